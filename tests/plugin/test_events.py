"""Tailing events.jsonl: half-written lines wait, states follow the events, dead runs are 'interrupted'."""
import json
import subprocess
import sys

from semiseg_qgis.jobs.events import EventTail, read_state


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def test_a_line_is_read_once_and_only_when_complete(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read_new() == []  # no file yet
    append(path, json.dumps({"type": "start", "pid": 1, "total_steps": 10}) + "\n" + '{"type": "progr')
    assert [e["type"] for e in tail.read_new()] == ["start"]
    append(path, 'ess", "step": 3, "total": 10, "loss": 0.5, "eta_s": 70}\n')
    assert [e["step"] for e in tail.read_new()] == [3]
    assert tail.read_new() == []


def test_state_of_a_finished_and_of_an_interrupted_run(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    events = [{"type": "start", "pid": dead.pid, "total_steps": 10},
              {"type": "progress", "step": 4, "total": 10, "loss": 0.25, "eta_s": 3725},
              {"type": "metrics", "step": 4, "split": "val", "miou": 0.5}]
    path = tmp_path / "events.jsonl"
    append(path, "".join(json.dumps(e) + "\n" for e in events))
    state = read_state(tmp_path)
    assert state.status == "interrupted"
    assert "step 4/10" in state.summary() and "val mIoU 0.500" in state.summary()
    append(path, json.dumps({"type": "error", "message": "labels.gpkg: no features"}) + "\n" +
           json.dumps({"type": "done", "status": "failed", "exit_code": 2, "message": "invalid"}) + "\n")
    state = read_state(tmp_path)
    assert state.status == "failed" and state.exit_code == 2
    assert state.error_text() == "labels.gpkg: no features"


def test_a_pid_reused_by_another_program_is_not_taken_for_the_engine(tmp_path):
    """After a reboot the `start` event's pid may be some other process: the job is interrupted."""
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        append(tmp_path / "events.jsonl", json.dumps({"type": "start", "pid": stranger.pid, "total_steps": 10}) + "\n")
        assert read_state(tmp_path).status == "interrupted"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_pixel_forest_job_counts_trees_not_steps():
    from semiseg_qgis.jobs.events import JobState

    state = JobState()
    state.apply({"type": "start", "pid": 1, "total_steps": 100, "unit": "tree", "method": "pixel_forest"})
    state.apply({"type": "progress", "step": 40, "total": 100, "loss": None, "eta_s": 12})
    assert "tree 40/100" in state.summary() and "loss" not in state.summary()
