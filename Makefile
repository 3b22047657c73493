# SemiSeg: `make demo` and `make test` do all set-up on a fresh Debian machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The engine runs on Debian's Python (QGIS uses the same one for the plugin tests).
SYSTEM_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_ENGINE := python3-venv python3-pip
APT_PLUGIN := qgis python3-qgis xvfb xauth python3-pytest python3-pyqt6
ENGINE_TESTS ?= tests/engine
PLUGIN_TESTS ?= tests/plugin

.PHONY: install system-deps plugin-deps demo test test-engine test-plugin bench bench-quality bench-retrain bench-first-map bench-segy-memory bench-scale bench-loop bench-peer plugin plugin-check install-plugin clean

install: system-deps $(VENV)/.installed

# apt only when something is missing, so a prepared machine needs no network or root.
system-deps:
	@dpkg -s $(APT_ENGINE) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_ENGINE); }

plugin-deps:
	@dpkg -s $(APT_PLUGIN) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PLUGIN); }

$(VENV)/.installed: engine/pyproject.toml
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e "engine[test]"
	touch $@

demo: install
	$(VENV)/bin/semiseg demo --out semiseg-demo

test: install plugin-deps
	$(MAKE) plugin-check
	$(MAKE) test-engine
	$(MAKE) test-plugin

test-engine:
	$(PY) -m pytest $(ENGINE_TESTS) -q -ra

# pytest exits 5 when a folder holds no test yet; that is not a failure of the suite.
test-plugin:
	@if [ -d $(PLUGIN_TESTS) ]; then \
	  SEMISEG_ENGINE_PYTHON=$(abspath $(PY)) QT_QPA_PLATFORM=offscreen /usr/bin/python3 -m pytest $(PLUGIN_TESTS) -q -ra -p no:cacheprovider; \
	  rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc; \
	fi

bench: install
	$(PY) benchmarks/bench_speed.py

# Real-data quality of every method (needs ../shared/data; hours on CPU, see docs/benchmarks.md).
# BENCH_QUALITY_ARGS="--config gpu" on a GPU machine.
bench-quality: install
	$(PY) benchmarks/bench_quality.py $(BENCH_QUALITY_ARGS)

# Training again after adding labels, from the last model or from scratch (needs ../shared/data).
bench-retrain: install
	$(PY) benchmarks/bench_retrain.py $(BENCH_RETRAIN_ARGS)

# Wall-clock to a map of a real 2149 x 1480 orthophoto with the dock's defaults: Quick map and Train (needs ../shared/data).
bench-first-map: install
	$(PY) benchmarks/bench_first_map.py

# The labelling loop: labels where SemiSeg suggests vs at random vs where the map is wrong (needs
# ../shared/data; hours on CPU: BENCH_LOOP_ARGS="--seeds 0 --rounds 3" for a shorter run).
bench-loop: install
	$(PY) benchmarks/bench_loop.py $(BENCH_LOOP_ARGS)

# Prediction over 1 and 2 processes, peak memory per rank, a resumed run (issue 40; ~40 min on 2 cores).
bench-scale: install
	$(PY) benchmarks/bench_scale.py $(BENCH_SCALE_ARGS)

# CPU map throughput against geoai-py's tiled GeoTIFF inference (issue 39; ~10 min on 2 cores). geoai-py
# runs in its own venv, layered on the engine's (the same torch and smp), with what its module imports.
PEER_VENV := .venv-peer
bench-peer: install
	@test -x $(PEER_VENV)/bin/python || { $(SYSTEM_PYTHON) -m venv $(PEER_VENV) && \
	  $(PY) -c "import site; print(site.getsitepackages()[0])" > "$$(ls -d $(PEER_VENV)/lib/python3*/site-packages)/engine_venv.pth" && \
	  $(PEER_VENV)/bin/pip install -q geoai-py==0.40.1 --no-deps && \
	  $(PEER_VENV)/bin/pip install -q leafmap rioxarray xarray matplotlib scikit-image requests; }
	$(PY) benchmarks/bench_peer.py --peer-python $(PEER_VENV)/bin/python $(BENCH_PEER_ARGS)

# Peak memory of predicting SEG-Y volumes of growing size (issue 27; ~15 min on 2 cores).
bench-segy-memory: install
	$(PY) benchmarks/bench_segy_memory.py

# The QGIS plugin as dist/semiseg-<version>.zip (Plugins > Install from ZIP, in QGIS 3.22+ and QGIS 4),
# or straight into every QGIS 3 and QGIS 4 profile found (PROFILE=DIR: only that profile folder).
# Both carry the engine source for the plugin's "Set up engine".
plugin:
	$(SYSTEM_PYTHON) scripts/build_plugin.py

install-plugin:
	$(SYSTEM_PYTHON) scripts/build_plugin.py --install $(if $(PROFILE),--profile "$(PROFILE)")

# The ZIP checked as plugins.qgis.org checks an upload, offline (scripts/plugin_check.py): one line per
# problem, Bandit and detect-secrets as the site runs them (both come with the engine's test extras).
# Placeholder links are a warning; PLUGIN_CHECK_ARGS=--release makes them fail.
plugin-check: install plugin
	$(PY) scripts/plugin_check.py $(PLUGIN_CHECK_ARGS)

clean:
	rm -rf $(VENV) $(PEER_VENV) semiseg-demo dist build bench-output
