"""Bad input: one clear line per problem naming the field or file, exit 2, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import events_of, sparse_labels, two_class_scene, write_job, write_raster
from semiseg.cli import main

WRITTEN_BY_TRAINING = ("model", "outputs", "checkpoints", "metrics.json")


def _run_invalid(job_dir: Path, capsys) -> list[str]:
    code = main(["train", str(job_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for name in WRITTEN_BY_TRAINING:
        assert not (job_dir / name).exists(), f"{name} written for an invalid job"
    done = events_of(job_dir)[-1]
    assert done["type"] == "done" and done["status"] == "failed" and done["exit_code"] == 2
    return [line for line in err.splitlines() if line.startswith("semiseg: error:")]


def test_missing_raster_is_named(scene_job, capsys):
    write_job(scene_job, labeled=[{"raster": "nope.tif", "labels": "a_labels.tif"}])
    lines = _run_invalid(scene_job, capsys)
    assert any("nope.tif" in line and "not found" in line for line in lines)


def test_file_that_is_not_a_raster(scene_job, capsys):
    (scene_job / "text.tif").write_text("hello")
    write_job(scene_job, unlabeled=["text.tif"])
    lines = _run_invalid(scene_job, capsys)
    assert any("text.tif" in line and "not a raster" in line for line in lines)


def test_labels_that_do_not_overlap_their_raster(scene_job, capsys):
    import geopandas as gpd
    from shapely.geometry import box

    far = gpd.GeoDataFrame({"class_id": [0]}, geometry=[box(0, 0, 10, 10)], crs="EPSG:32633")
    far.to_file(scene_job / "far.gpkg", layer="labels", driver="GPKG")
    write_job(scene_job, labeled=[{"raster": "a.tif", "labels": "far.gpkg"}])
    lines = _run_invalid(scene_job, capsys)
    assert any("far.gpkg" in line and "do not overlap" in line for line in lines)


def test_class_id_not_in_classes(scene_job, capsys):
    labels = np.full((96, 96), 255, np.uint8)
    labels[10, 10] = 7
    write_raster(scene_job / "a_labels.tif", labels, nodata=255)
    lines = _run_invalid(scene_job, capsys)
    assert any("a_labels.tif" in line and "7" in line and "not among" in line for line in lines)


def test_no_labelled_pixel_at_all(scene_job, capsys):
    write_raster(scene_job / "a_labels.tif", np.full((96, 96), 255, np.uint8), nodata=255)
    lines = _run_invalid(scene_job, capsys)
    assert any("no labelled pixel" in line for line in lines)


def test_band_count_mismatch(scene_job, capsys):
    image, _ = two_class_scene(bands=4)
    write_raster(scene_job / "four.tif", image)
    write_job(scene_job, unlabeled=["four.tif"])
    lines = _run_invalid(scene_job, capsys)
    assert any("four.tif" in line and "4 band" in line for line in lines)


def test_unknown_method_encoder_and_field_are_all_reported(scene_job, capsys):
    write_job(scene_job, method={"name": "magic"}, model={"arch": "unet", "encoder": "resnet999"}, train={"tile_size": 100})
    lines = _run_invalid(scene_job, capsys)
    # The spec error stops before files are read; fix it and the rest are reported together.
    assert any("train.tile_size" in line and "multiple of 32" in line for line in lines)
    write_job(scene_job, method={"name": "magic"}, model={"arch": "unet", "encoder": "resnet999"})
    lines = _run_invalid(scene_job, capsys)
    assert any("method.name" in line and "magic" in line for line in lines)
    assert any("model.encoder" in line and "resnet999" in line and "did you mean" in line and "resnet18" in line for line in lines)


def test_a_parameter_that_does_not_apply_to_the_chosen_task_is_refused(scene_job, capsys):
    """aux's split means nothing for jigsaw (an image classifier on the encoder): say so, do not ignore it."""
    write_job(scene_job, method={"name": "aux", "task": "jigsaw", "split": "early"})
    lines = _run_invalid(scene_job, capsys)
    assert any("method" in line and "split does not apply to task jigsaw" in line for line in lines)


def test_one_named_gpu_for_several_processes_is_refused(scene_job, capsys):
    code = main(["train", str(scene_job), "--quiet", "--device", "cuda:1", "--devices", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "--device cuda:1 --devices 2" in err and "Traceback" not in err
    assert not any((scene_job / name).exists() for name in WRITTEN_BY_TRAINING)


def test_unknown_field_and_bad_json(scene_job, capsys):
    job = json.loads((scene_job / "job.json").read_text())
    job["trian"] = {}
    (scene_job / "job.json").write_text(json.dumps(job))
    lines = _run_invalid(scene_job, capsys)
    assert any("trian" in line and "unknown field" in line for line in lines)
    (scene_job / "job.json").write_text("{not json")
    lines = _run_invalid(scene_job, capsys)
    assert any("not valid JSON" in line for line in lines)


def test_classes_listed_out_of_order_keep_their_ids_and_gaps_are_refused(scene_job, capsys):
    from semiseg.jobs.spec import load_job

    dark, bright = {"id": 0, "name": "dark", "color": "#202020"}, {"id": 1, "name": "bright", "color": "#f0f0f0"}
    write_job(scene_job, classes=[bright, dark])
    assert load_job(scene_job).domains[0].class_names == ["dark", "bright"]  # the legend follows the ids
    write_job(scene_job, classes=[dark, {**bright, "id": 2}])
    assert any("class ids must be 0..1" in line for line in _run_invalid(scene_job, capsys))


def test_bands_pick_and_order_the_inputs_and_missing_ones_are_named(scene_job, capsys):
    from semiseg.pipeline.prepare import prepare_inputs
    from semiseg.jobs.spec import load_job

    write_job(scene_job, bands=[3, 1])
    assert prepare_inputs(load_job(scene_job)).domains[0].bands == [3, 1]
    write_job(scene_job, bands=[1, 9])
    assert any("bands: band(s) [9] do not exist (rasters have 3 band(s))" in line for line in _run_invalid(scene_job, capsys))


def test_two_rasters_to_predict_with_one_name_are_refused(scene_job, capsys):
    (scene_job / "other").mkdir()
    (scene_job / "other" / "a.tif").write_bytes((scene_job / "a.tif").read_bytes())
    write_job(scene_job, predict=["a.tif", "other/a.tif"])
    assert any("two rasters are named 'a'" in line and "collide" in line for line in _run_invalid(scene_job, capsys))


def test_validate_command_accepts_a_good_job_without_writing(scene_job, capsys):
    assert main(["validate", str(scene_job)]) == 0
    assert "is valid" in capsys.readouterr().out
    assert not (scene_job / "events.jsonl").exists()


def test_predict_with_missing_model_is_a_user_error(tmp_path, capsys):
    image, _ = two_class_scene()
    write_raster(tmp_path / "x.tif", image)
    code = main(["predict", str(tmp_path / "no_model"), str(tmp_path / "x.tif"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "model.json" in err and "Traceback" not in err


@pytest.mark.parametrize("options, message", [
    (["--bounds", "10", "0", "5", "1"], "XMIN < XMAX"),
    (["--bounds", "0", "0", "inf", "1"], "finite"),
    (["--min-polygon-pixels", "4"], "needs --polygons"),
    (["--overlap", "1"], "--overlap 1.0: expected a fraction"),
    (["--overlap", "-0.2"], "--overlap -0.2: expected a fraction"),
    (["--batch-size", "0"], "--batch-size 0: expected at least 1"),
])
def test_bad_predict_options_are_refused_before_anything_runs(tmp_path, capsys, options, message):
    code = main(["predict", str(tmp_path / "no_model"), str(tmp_path / "x.tif"), "--out", str(tmp_path / "o"), *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and not (tmp_path / "o").exists()


def test_an_engine_bug_is_one_line_for_the_user_and_a_traceback_in_the_log(scene_job, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tensor sizes differ\nsecond line")

    monkeypatch.setattr("semiseg.pipeline.train_job.run_training", broken)
    assert main(["train", str(scene_job), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"semiseg: internal error: RuntimeError: tensor sizes differ (details in {scene_job / 'log.txt'})"
    assert "Traceback" in (scene_job / "log.txt").read_text()
    done = events_of(scene_job)[-1]
    assert done["type"] == "done" and done["status"] == "failed" and done["exit_code"] == 1


def test_an_engine_bug_during_predict_is_one_line_for_the_plugin_and_a_traceback_in_the_log(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no kernel image")

    monkeypatch.setattr("semiseg.predict.raster.load_predictor", broken)
    out = tmp_path / "o"
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "x.tif"), "--out", str(out), "--quiet", "--events"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"semiseg: internal error: RuntimeError: no kernel image (details in {out / 'log.txt'})"
    assert "Traceback" in (out / "log.txt").read_text()
    assert events_of(out)[-1]["status"] == "failed" and events_of(out)[-1]["exit_code"] == 1


def test_ctrl_c_during_predict_is_reported_as_cancelled(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("semiseg.predict.raster.load_predictor", interrupted)
    out = tmp_path / "o"
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "x.tif"), "--out", str(out), "--quiet", "--events"]) == 130
    assert "Traceback" not in capsys.readouterr().err
    done = events_of(out)[-1]
    assert done["type"] == "done" and done["status"] == "cancelled" and done["exit_code"] == 130
    assert not any(e["type"] == "error" for e in events_of(out))


def test_pretrained_weights_missing_offline_is_a_clear_error(scene_job, capsys):
    write_job(scene_job, model={"encoder_weights": "imagenet"})
    lines = _run_invalid(scene_job, capsys)
    assert any("encoder_weights" in line and "local cache" in line for line in lines)


def test_methods_are_described_for_clients(capsys):
    assert main(["methods", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["default"] in described["methods"]
    cct = described["methods"]["cct"]
    assert cct["uses_unlabeled"] and cct["parameters"]["properties"]["weight"]["default"] == 30.0
    assert described["methods"]["usss"]["supports_domains"] and described["methods"]["s6"]["default_arch"] == "deeplabv3plus"
    # clients offer usss for multi-domain jobs only; cct trains one domain or several
    assert described["methods"]["usss"]["needs_domains"] and not described["methods"]["cct"]["needs_domains"]
    assert described["methods"]["cct"]["supports_domains"]


def test_every_method_parameter_says_what_it_does_and_each_method_marks_those_to_try_first(capsys):
    """The dock's Advanced tooltips are these descriptions (issue 41, item 14); "key" puts a
    parameter on top of the form."""
    assert main(["methods", "--json"]) == 0
    for name, info in json.loads(capsys.readouterr().out)["methods"].items():
        schema = info["parameters"]
        nested = [p for d in schema.get("$defs", {}).values() for p in d.get("properties", {}).items()]
        for key, prop in [*schema["properties"].items(), *nested]:
            assert len(prop.get("description", "")) >= 30, f"{name}.{key}: no description"
        assert any(p.get("key") for p in schema["properties"].values()), f"{name}: no parameter marked key"


def test_plugin_tests_use_the_engines_current_method_answer(capsys):
    """The plugin tests run without torch, on a recorded `semiseg methods --json`; a stale
    recording would test the dock against methods, parameters or an order the engine no longer has."""
    assert main(["methods", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    recorded = json.loads((Path(__file__).parents[1] / "plugin" / "engine_methods.json").read_text())
    assert answer == recorded and list(answer["methods"]) == list(recorded["methods"]), (
        "tests/plugin/engine_methods.json is stale: record it again with "
        "`.venv/bin/python -m semiseg.cli methods --json > tests/plugin/engine_methods.json`")
    assert list(answer["methods"])[:2] == ["mean_teacher", "supervised"]  # the default, then the baseline


def _small_package(folder: Path, **card_changes) -> None:
    from semiseg.models.network import build_network
    from semiseg.models.package import ModelCard, save_package

    card = ModelCard(class_names=["a", "b"], class_colors=["#000000", "#ffffff"], bands=[1, 2, 3], mean=[0.0] * 3, std=[1.0] * 3,
                     arch="unet", encoder="resnet18", in_channels=3, tile_size=64, method={"name": "supervised"})
    save_package(folder, card, build_network("unet", "resnet18", 3, 2))
    raw = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**raw, **card_changes}))


@pytest.mark.parametrize("card_changes, message", [
    ({"arch": "unetzz"}, "model.json: model.arch: unknown architecture 'unetzz'"),
    ({"class_names": ["a", "b", "c"], "class_colors": ["#000000"] * 3}, "model.safetensors: its weights do not fit the network of model.json"),
])
def test_a_model_package_that_does_not_match_its_weights_is_a_user_error(tmp_path, capsys, card_changes, message):
    image, _ = two_class_scene()
    write_raster(tmp_path / "x.tif", image)
    _small_package(tmp_path / "model", **card_changes)
    code = main(["predict", str(tmp_path / "model"), str(tmp_path / "x.tif"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "model") in err and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_an_out_folder_that_cannot_be_made_is_a_user_error(tmp_path, capsys):
    image, _ = two_class_scene()
    write_raster(tmp_path / "x.tif", image)
    _small_package(tmp_path / "model")
    (tmp_path / "o").write_text("a file, not a folder")
    code = main(["predict", str(tmp_path / "model"), str(tmp_path / "x.tif"), "--out", str(tmp_path / "o"), "--quiet", "--events"])
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'o'}: cannot write the predictions there" in err and "Traceback" not in err


def test_two_rasters_of_the_same_name_are_refused_before_one_overwrites_the_other(tmp_path, capsys):
    image, _ = two_class_scene()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_raster(tmp_path / folder / "scene.tif", image)
    _small_package(tmp_path / "model")
    code = main(["predict", str(tmp_path / "model"), str(tmp_path / "a" / "scene.tif"), str(tmp_path / "b" / "scene.tif"),
                 "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'b' / 'scene.tif'}: same file name as {tmp_path / 'a' / 'scene.tif'}" in err
    assert not (tmp_path / "o").exists()


def test_a_raster_placed_by_ground_control_points_only_is_refused(tmp_path, capsys):
    """Without a geotransform the outputs could not lie on its grid, nor labels be burnt where drawn."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    image, _ = two_class_scene()
    gcps = [GroundControlPoint(row=r, col=c, x=500_000 + 2 * c, y=4_000_000 - 2 * r) for r, c in ((0, 0), (0, 95), (95, 0))]
    with rasterio.open(tmp_path / "gcp.tif", "w", driver="GTiff", width=image.shape[2], height=image.shape[1],
                       count=image.shape[0], dtype=image.dtype, gcps=gcps, crs=CRS.from_epsg(32633)) as out:
        out.write(image)
    _small_package(tmp_path / "model")
    code = main(["predict", str(tmp_path / "model"), str(tmp_path / "gcp.tif"), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "gcp.tif: placed by ground control points only" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_model_package_is_readable_by_whoever_may_read_its_folder(tmp_path):
    """A shared model folder: the weights get the umask's mode like model.json, not a private 0600."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        _small_package(tmp_path / "model")
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE((tmp_path / "model" / name).stat().st_mode) for name in ("model.json", "model.safetensors")}
    assert modes == {"model.json": 0o644, "model.safetensors": 0o644}


def test_labels_only_on_nodata_are_refused_before_training(tmp_path, capsys):
    image, truth = two_class_scene(64, 64)
    image[:, :, :40] = 0  # the left part, where every label lies, is nodata
    labels = np.full((64, 64), 255, np.uint8)
    labels[5:10, 5:30] = truth[5:10, 5:30]
    write_raster(tmp_path / "a.tif", image, nodata=0)
    write_raster(tmp_path / "a_labels.tif", labels, nodata=255)
    write_job(tmp_path)
    assert main(["validate", str(tmp_path)]) == 2
    assert "a_labels.tif: every labelled pixel lies on nodata of a.tif" in capsys.readouterr().err


def test_labels_of_a_single_class_are_refused_before_training(tmp_path, capsys):
    image, truth = two_class_scene(64, 64)
    labels = np.full((64, 64), 255, np.uint8)
    labels[5:10, 40:60] = 1  # only "bright"
    write_raster(tmp_path / "a.tif", image)
    write_raster(tmp_path / "a_labels.tif", labels, nodata=255)
    write_job(tmp_path)
    assert main(["train", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["semiseg: error: job.json: labels: only class 'bright' is labelled (on valid pixels); a model needs labels of at least two classes"]
    assert not (tmp_path / "model").exists()


def _truncated(path: Path, keep: float = 0.6) -> Path:
    """A deflate GeoTIFF cut short: its header reads, its last strips do not."""
    import os

    import rasterio

    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8", compress="deflate",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(500000, 5000000, 2, 2)) as ds:
        ds.write(rng.integers(0, 255, (3, 200, 200)).astype(np.uint8))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * keep))
    return path


@pytest.mark.parametrize("role", ["labeled", "unlabeled"])
def test_a_truncated_raster_is_found_by_validate_and_named(tmp_path, capsys, role):
    image, truth = two_class_scene(200, 200)
    write_raster(tmp_path / "a.tif", image)
    write_raster(tmp_path / "a_labels.tif", sparse_labels(truth), nodata=255)
    _truncated(tmp_path / "cut.tif")
    if role == "labeled":
        (tmp_path / "cut.tif").replace(tmp_path / "a.tif")
        write_job(tmp_path)
    else:
        write_job(tmp_path, unlabeled=["cut.tif"])
    before = (tmp_path / ("a.tif" if role == "labeled" else "cut.tif")).read_bytes()
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    name = "a.tif" if role == "labeled" else "cut.tif"
    assert len(err) == 1 and f"{name}: cannot read rows" in err[0] and "damaged or truncated" in err[0]
    assert (tmp_path / name).read_bytes() == before


def test_a_truncated_raster_given_to_predict_is_one_line_and_leaves_nothing(scene_job, tmp_path, capsys):
    assert main(["train", str(scene_job), "--quiet"]) == 0
    capsys.readouterr()
    cut = _truncated(tmp_path / "cut.tif")
    out = tmp_path / "maps"
    assert main(["predict", str(scene_job / "model"), str(cut), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"semiseg: error: {cut}: cannot read rows") and "Traceback" not in err[0]
    assert not out.exists() or not any(out.iterdir())  # no partial file either


@pytest.mark.parametrize("card_changes, message", [
    ({"bands": []}, "model.json: bands []: expected 1-based band indexes, at least one"),
    ({"tile_size": "big"}, "model.json: tile_size: Input should be a valid integer"),
    ({"mean": [0.0]}, "model.json: bands, mean and std need in_channels (3) entries each"),
    ({"class_names": "ab"}, "model.json: class_names: Input should be a valid list"),
    ({"surprise": 1}, "model.json: surprise: unknown field"),
])
def test_a_damaged_model_json_is_one_line_naming_the_field(tmp_path, capsys, card_changes, message):
    _small_package(tmp_path / "model", **card_changes)
    image, _ = two_class_scene(40, 40)
    write_raster(tmp_path / "x.tif", image)
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "x.tif"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def _fail_writes(monkeypatch, target: str, code: int) -> None:
    """Make one writer raise what a full (or read-only) disk raises, as the OS would."""
    import os

    import semiseg.models.package as package
    import semiseg.train.callbacks as callbacks

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    def half_a_checkpoint(checkpoint, path, *args, **kwargs):
        Path(path).write_bytes(b"half")  # the disk filled up part-way through
        refuse()

    if target == "checkpoint":
        monkeypatch.setattr(callbacks.torch, "save", half_a_checkpoint)
    else:
        monkeypatch.setattr(package, "save_file", refuse)


@pytest.mark.parametrize("target, code_name, words", [
    ("checkpoint", "ENOSPC", "last.ckpt: cannot be written: no space left on its disk"),
    ("model", "ENOSPC", "model: cannot be written: no space left on its disk"),
    ("model", "EROFS", "model: cannot be written: the disk is read-only"),
])
def test_a_full_or_read_only_disk_is_one_line_naming_what_could_not_be_written(scene_job, capsys, monkeypatch, target, code_name, words):
    import errno

    _fail_writes(monkeypatch, target, getattr(errno, code_name))
    assert main(["train", str(scene_job), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    leftovers = [p.name for p in scene_job.rglob("*") if "partial" in p.name]
    assert not leftovers and not (scene_job / "model").exists()


def test_checkpoints_are_written_beside_their_name_not_in_the_temp_dir(scene_job, monkeypatch):
    """A full or missing temp disk must not stop a job whose own disk has room."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", "/dev/null/no-temp-dir")  # any file staged there fails
    write_job(scene_job, train={"steps": 4, "checkpoint_every": 2}, predict=[])
    assert main(["train", str(scene_job), "--quiet"]) == 0  # two checkpoints written on the way


def test_labels_on_a_png_named_tif_say_it_is_not_a_geotiff(scene_job, capsys):
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    with rasterio.open(scene_job / "a.tif") as src:
        pixels, (x0, y0, x1, y1) = src.read(), src.bounds
    with rasterio.open(scene_job / "photo.png", "w", driver="PNG", width=pixels.shape[2], height=pixels.shape[1], count=3, dtype="uint8") as png:
        png.write(pixels)
    (scene_job / "photo.png").rename(scene_job / "photo.tif")
    middle = box(x0 + 10, y0 + 10, x1 - 10, y1 - 10)  # on the map where a.tif is
    gpd.GeoDataFrame({"class_id": [0, 1]}, geometry=[middle, middle.buffer(-20)], crs="EPSG:32633").to_file(scene_job / "drawn.gpkg", layer="labels")
    write_job(scene_job, labeled=[{"raster": "photo.tif", "labels": "drawn.gpkg"}])
    (line,) = _run_invalid(scene_job, capsys)
    assert "drawn.gpkg: none of its 2 feature(s) falls on photo.tif" in line
    assert "photo.tif has no georeference" in line and "not a GeoTIFF but a PNG file named .tif" in line


def test_labels_off_the_raster_say_where_each_lies_and_an_empty_layer_says_it_is_empty(scene_job, capsys):
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"class_id": [0, 1]}, geometry=[box(0, 0, 10, 10), box(20, 0, 30, 5)], crs="EPSG:32633").to_file(scene_job / "far.gpkg", layer="labels")
    write_job(scene_job, labeled=[{"raster": "a.tif", "labels": "far.gpkg"}])
    (line,) = _run_invalid(scene_job, capsys)
    assert "none of its 2 feature(s) falls on a.tif" in line
    assert "the labels span x 0..30, y 0..10 and the raster x 500000..500192, y 4.99981e+06..5e+06 (in EPSG:32633)" in line
    gpd.GeoDataFrame({"class_id": []}, geometry=[], crs="EPSG:32633").to_file(scene_job / "empty.gpkg", layer="labels")
    write_job(scene_job, labeled=[{"raster": "a.tif", "labels": "empty.gpkg"}])
    (line,) = _run_invalid(scene_job, capsys)
    assert "empty.gpkg: holds no labelled feature (0 features with a 'class_id')" in line
