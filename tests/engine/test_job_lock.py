"""One engine per job directory: a second `semiseg train` is refused, and a killed engine leaves no lock."""

from __future__ import annotations

import subprocess

from conftest import SEMISEG, events_of, start_training, wait_for_step, write_job


def test_a_second_engine_on_a_running_job_is_refused_and_a_killed_one_leaves_no_lock(scene_job):
    write_job(scene_job, train={"steps": 400, "batch_size": 2, "tile_size": 64, "lr": 1e-3, "seed": 0, "num_workers": 0})
    first = start_training(scene_job)
    try:
        wait_for_step(scene_job, 1, first)
        before = (scene_job / "events.jsonl").read_text()
        second = subprocess.run([*SEMISEG, "train", str(scene_job), "--quiet"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"an engine (process {first.pid}) is already running this job" in lines[0]
        after = (scene_job / "events.jsonl").read_text()
        assert after.startswith(before) and all(e["type"] != "error" for e in events_of(scene_job))  # nothing of the second's
    finally:
        first.kill()  # kill -9: no handler runs, the OS drops the lock with the process
        first.wait()
    write_job(scene_job, train={"steps": 2, "batch_size": 2, "tile_size": 64, "lr": 1e-3, "seed": 0, "num_workers": 0})
    again = subprocess.run([*SEMISEG, "train", str(scene_job), "--quiet"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr

