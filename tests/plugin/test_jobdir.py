"""The plugin and the engine name the same files in a job directory, and only jobdir.py names them."""
import json
import re
import subprocess
from pathlib import Path

from semiseg_qgis.jobs.jobdir import JobDir

PLUGIN = Path(__file__).resolve().parents[2] / "plugin"
SHARED = ("spec", "checkpoints", "last_checkpoint", "forest", "model", "outputs", "events", "log", "cancel_request")


def test_the_plugin_names_each_path_of_a_job_as_the_engine_does(engine_python, tmp_path):
    (tmp_path / "job.json").write_text("{}")  # a training job: outputs/ is a folder of its own
    asked = subprocess.run(
        [engine_python, "-c", "import json, sys; from pathlib import Path; from semiseg.jobs.jobdir import JobDir; "
         f"d = JobDir(Path(sys.argv[1])); print(json.dumps({{n: str(getattr(d, n)) for n in {SHARED!r}}}))",
         str(tmp_path)], capture_output=True, text=True, check=True)
    engine_paths = json.loads(asked.stdout)
    assert {name: str(getattr(JobDir(tmp_path), name)) for name in SHARED} == engine_paths


def test_a_prediction_run_keeps_its_maps_in_its_own_folder(tmp_path):
    assert JobDir(tmp_path).is_prediction_run and JobDir(tmp_path).outputs == tmp_path
    (tmp_path / "job.json").write_text("{}")
    assert JobDir(tmp_path).outputs == tmp_path / "outputs"


def test_no_other_plugin_module_spells_a_file_name_of_a_job_directory():
    names = ("job.json", "events.jsonl", "log.txt", "console.txt", "last.ckpt", "checkpoints", "model.json",
             "labels.gpkg")
    files = re.compile(r"[\"'](?:[^\"']*/)?(%s)[\"']" % "|".join(map(re.escape, names)))
    folders = re.compile(r"/\s*[\"'](cancel|outputs|model|checkpoints)[\"']")  # a path joined by hand
    offenders = []
    for path in PLUGIN.rglob("*.py"):
        if path.name == "jobdir.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if files.search(code) or folders.search(code):
                offenders.append(f"{path.relative_to(PLUGIN)}:{number}: {line.strip()}")
    assert offenders == []
