"""Each branch the plugin takes on the platform, run here whatever this machine is.

QGIS 3.22+ and QGIS 4 run on Windows, macOS and Linux; CI and development run on Linux only,
so the Windows and macOS branches would otherwise never run before a user's does. Each branch
is a small function taking the platform (or the OS's interface) as an argument.
"""
import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from semiseg_qgis.common import settings
from semiseg_qgis.engine_process import engine
from semiseg_qgis.engine_process.engine_setup import base_python
from semiseg_qgis.jobs import job
from semiseg_qgis.jobs.events import alive_posix, alive_windows, engine_alive

posix_only = pytest.mark.skipif(os.name == "nt", reason="runs a POSIX child process")


# ---- the venv's Python ------------------------------------------------------------------------------
def test_venv_python_is_scripts_python_exe_on_windows():
    assert settings.venv_python(PureWindowsPath(r"C:\Users\me\semiseg\venv"), windows=True) == \
        PureWindowsPath(r"C:\Users\me\semiseg\venv\Scripts\python.exe")


def test_venv_python_is_bin_python_elsewhere():
    assert settings.venv_python(PurePosixPath("/home/me/semiseg/venv"), windows=False) == \
        PurePosixPath("/home/me/semiseg/venv/bin/python")


def test_venv_python_defaults_to_this_machine(tmp_path):
    expected = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    assert settings.venv_python(tmp_path).parts[-2:] == expected


def test_base_python_finds_the_posix_and_the_windows_layouts(tmp_path):
    """QGIS's own Python creates the venv: PREFIX/bin/python3 (Linux, macOS), PREFIX/python.exe
    (OSGeo4W's apps/Python3x)."""
    posix, windows = tmp_path / "usr", tmp_path / "Python312"
    (posix / "bin").mkdir(parents=True)
    (posix / "bin" / "python3").write_text("")
    windows.mkdir()
    (windows / "python.exe").write_text("")
    assert base_python(posix) == str(posix / "bin" / "python3")
    assert base_python(windows) == str(windows / "python.exe")


# ---- detaching the engine from QGIS -----------------------------------------------------------------
def test_windows_engine_gets_a_process_group_of_its_own_and_no_console():
    flags = engine.detach_options(windows=True)["creationflags"]
    # the Win32 values (winbase.h); subprocess has them on Windows only
    assert flags == 0x00000200 | 0x08000000
    assert flags == getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200) | getattr(subprocess, "CREATE_NO_WINDOW",
                                                                                     0x08000000)


def test_posix_engine_gets_a_session_of_its_own():
    assert engine.detach_options(windows=False) == {"start_new_session": True}
    assert engine.NO_WINDOW == (0x08000000 if os.name == "nt" else 0)  # Popen refuses flags on POSIX


@posix_only
def test_started_engine_outlives_qgis_session(tmp_path):
    """engine.start really puts the engine in a session of its own: a Ctrl+C or the end of
    QGIS's terminal session does not reach a training."""
    console = tmp_path / "console.txt"
    process = engine.start([sys.executable, "-c", "import os; print(os.getsid(0))"], console)
    assert process.wait(timeout=30) == 0
    assert int(console.read_text()) == process.pid != os.getsid(0)


# ---- is the engine of a job still running? -----------------------------------------------------------
class FakeKernel32:
    """kernel32's OpenProcess / GetExitCodeProcess / CloseHandle for one process."""

    def __init__(self, opens: bool, exit_code: int):
        self.opens, self.exit_code, self.closed = opens, exit_code, []

    def OpenProcess(self, access, inherit, pid):
        assert access == 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION: allowed on others' processes too
        return 42 if self.opens else 0

    def GetExitCodeProcess(self, handle, code_ref):
        ctypes.cast(code_ref, ctypes.POINTER(ctypes.c_ulong)).contents.value = self.exit_code
        return 1

    def CloseHandle(self, handle):
        self.closed.append(handle)


def test_windows_alive_is_still_active_exit_code():
    running, ended, gone = FakeKernel32(True, 259), FakeKernel32(True, 0), FakeKernel32(False, 0)
    assert alive_windows(1234, running) is True
    assert alive_windows(1234, ended) is False
    assert alive_windows(1234, gone) is False
    assert running.closed == ended.closed == [42] and gone.closed == []  # no handle leaks


@posix_only
def test_posix_alive_needs_the_engine_in_the_command_line(tmp_path):
    """After a reboot a job's pid may be another program's: that one is not the engine."""
    sleep = "import time; time.sleep(60)"
    engine_like = subprocess.Popen([sys.executable, "-c", sleep, "semiseg"])
    other = subprocess.Popen([sys.executable, "-c", sleep, "other"])
    try:
        time.sleep(0.2)  # the command line is there once exec has run
        if Path("/proc").is_dir():
            assert alive_posix(engine_like.pid) is True
            assert alive_posix(other.pid) is False
        # macOS has no /proc: a live pid is all there is to go by
        assert alive_posix(other.pid, proc=tmp_path / "no-proc") is True
    finally:
        for p in (engine_like, other):
            p.kill()
            p.wait()
    assert alive_posix(engine_like.pid) is False  # gone
    assert engine_alive(0) is False and engine_alive(-1) is False


# ---- the job directory --------------------------------------------------------------------------------
class _Project:
    def homePath(self):
        return ""


def test_job_folder_names_are_valid_on_windows(tmp_path):
    """A job folder is named from the time: no character Windows refuses in a file name."""
    names = [job.new_job_dir(str(tmp_path), _Project(), prefix).name for prefix in ("", "predict-")]
    assert all(not set(name) & set('<>:"/\\|?*') and name == name.rstrip(". ") for name in names), names
