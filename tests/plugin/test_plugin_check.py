"""scripts/plugin_check.py: the built ZIP passes plugins.qgis.org's upload checks, and a ZIP that the
site would refuse fails with one line naming the file and the problem. Offline, no network."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "plugin_check.py"
TOP = "semiseg_qgis"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plugin-check")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_plugin.py"), "--dist", str(tmp / "dist"),
                    "--build", str(tmp / "build")], check=True, capture_output=True)
    archive, = (tmp / "dist").glob("semiseg-*.zip")
    return archive


def run_check(archive: Path, *args: str, python: str = sys.executable):
    result = subprocess.run([python, str(CHECK), str(archive), *args], capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    problems = [line for line in lines if not line.startswith("warning:")]
    return result.returncode, problems, lines


def variant(source: Path, target: Path, drop=(), add=None, rename=None, edit=None) -> Path:
    """A copy of the ZIP without `drop`, with `add` {name: bytes}, `rename` {old: new}, `edit` {name: fn}."""
    add, rename, edit = add or {}, rename or {}, edit or {}
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = src.read(info.filename)
            if info.filename in edit:
                data = edit[info.filename](data.decode("utf-8")).encode("utf-8")
            info.filename = rename.get(info.filename, info.filename)
            dst.writestr(info, data)
        for name, data in add.items():
            dst.writestr(name, data)
    return target


def metadata_edit(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)
    return {"edit": {f"{TOP}/metadata.txt": edit}}


def test_the_built_zip_passes(built):
    rc, problems, lines = run_check(built, "--no-scan")
    assert rc == 0, lines
    assert problems == [problems[-1]] and problems[-1].startswith(f"plugin-check: {built} passes (")
    names = zipfile.ZipFile(built).namelist()
    assert names[0] == f"{TOP}/"  # the site takes the plugin's folder from the first name
    assert {f"{TOP}/__init__.py", f"{TOP}/metadata.txt", f"{TOP}/LICENSE"} <= set(names)


def test_placeholder_links_are_one_warning_line_and_fail_a_release(built):
    rc, problems, lines = run_check(built, "--no-scan")
    warnings = [line for line in lines if line.startswith("warning:")]
    if not any("example.org" in line for line in warnings):
        pytest.skip("the real links are set: no placeholder to report")
    assert rc == 0 and len(warnings) == 1 and "placeholders" in warnings[0] and "repository=" in warnings[0]
    rc, problems, _ = run_check(built, "--no-scan", "--release")
    assert rc == 1 and len(problems) == 1 and "placeholders" in problems[0]


@pytest.mark.parametrize("case, change, named", [
    ("no-license", dict(drop=[f"{TOP}/LICENSE"]), f"{TOP}/LICENSE"),
    ("pycache", dict(add={f"{TOP}/common/__pycache__/settings.cpython-311.pyc": b"\x00" * 16,
                          f"{TOP}/common/__pycache__/paths.cpython-311.pyc": b"\x00" * 16}),
     f"{TOP}/common/__pycache__/"),
    ("hidden", dict(add={f"{TOP}/engine/.env": b"A=1\n"}), f"{TOP}/engine/.env"),
    ("dotdot", dict(add={f"{TOP}/../evil.py": b"print(1)\n"}), f"{TOP}/../evil.py"),
    ("binary", dict(add={f"{TOP}/lib/helper.so": b"\x7fELF" + b"\x00" * 60}), f"{TOP}/lib/helper.so"),
    ("no-tracker", metadata_edit("\ntracker=", "\nbugs="), "'tracker' is missing"),
    ("qgis3-only", metadata_edit("qgisMaximumVersion=4.99", "qgisMaximumVersion=3.99"), "qgisMaximumVersion=3.99"),
    ("percent", metadata_edit("press Train.", "press Train (100% local)."), "cannot be read as plugins.qgis.org"),
])
def test_a_zip_the_site_refuses_fails_with_one_line_naming_it(built, tmp_path, case, change, named):
    archive = variant(built, tmp_path / f"{case}.zip", **change)
    rc, problems, lines = run_check(archive, "--no-scan")
    assert rc == 1, lines
    assert len(problems) == 1, lines
    assert named in problems[0], problems[0]


def test_the_top_folder_must_be_a_python_identifier(built, tmp_path):
    with zipfile.ZipFile(built) as zf:
        rename = {n: "semiseg-qgis/" + n.split("/", 1)[1] for n in zf.namelist()}
    rc, problems, lines = run_check(variant(built, tmp_path / "dash.zip", rename=rename), "--no-scan")
    assert rc == 1 and len(problems) == 1 and "semiseg-qgis/" in problems[0] and "identifier" in problems[0], lines


def _scanner_python():
    for python in (os.environ.get("SEMISEG_ENGINE_PYTHON"), str(REPO / ".venv" / "bin" / "python")):
        if python and Path(python).is_file() and subprocess.run(
                [python, "-c", "import bandit, detect_secrets"], capture_output=True).returncode == 0:
            return python
    pytest.skip("no Python with bandit and detect-secrets (make install puts them into .venv)")


def test_bandit_and_detect_secrets_findings_are_one_line_each(built, tmp_path):
    python = _scanner_python()
    key = "AKIA" + "Z3QF7WJ2K5LTH6MC"  # an AWS access key id's shape, split so no scanner flags this file
    archive = variant(built, tmp_path / "findings.zip", add={
        f"{TOP}/common/evil.py": b"def run(text):\n    return eval(text)\n",
        f"{TOP}/common/keys.py": f'AWS_ID = "{key}"\n'.encode(),
        f"{TOP}/common/ok.py": b"def run(text):\n    return eval(text)  # nosec B307 - test fixture\n",
    })
    rc, problems, lines = run_check(archive, "--scanner-python", python)
    assert rc == 1
    assert any(line.startswith(f"{TOP}/common/evil.py:2: bandit B307") for line in problems), lines
    assert any(line.startswith(f"{TOP}/common/keys.py:1: detect-secrets: AWS Access Key") for line in problems), lines
    assert not any("ok.py" in line for line in problems), lines
