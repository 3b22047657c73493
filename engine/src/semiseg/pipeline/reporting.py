"""How an engine command ends: exit codes, `error`/`done` events, one line for the user.

Exit codes: 0 completed, 1 engine failure, 2 invalid input, 130 cancelled. Shared by the CLI's
commands and the demo, so a job ends the same way whoever runs it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from typing import Callable, Iterator

from semiseg.errors import Cancelled, UserError

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 0, 1, 2, 130


@contextlib.contextmanager
def sigterm_cancels() -> Iterator[None]:
    """SIGTERM (how the plugin stops the engine) unwinds like Ctrl-C, so no partial file stays.

    Training replaces this with its own handler while it can checkpoint (CancelFlag.listening).
    """

    def stop(signum, frame):
        raise Cancelled()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class EngineFailure(Exception):
    """An engine bug, already logged and reported as events; `main` prints its one line, exit 1."""


@contextlib.contextmanager
def reported(events, cancelled_message: str) -> Iterator[None]:
    """How a command ended, as `error`/`done` events: bad input 2, cancelled 130, engine bug 1.

    An engine bug's traceback goes to log.txt (to stderr when no log is written); the user gets
    one line.
    """
    # A full disk may refuse the report too (events.py raises a UserError then): the cause still
    # goes to stderr, as the one line.
    unwritable = contextlib.suppress(OSError, UserError)
    try:
        yield
    except UserError as exc:
        with unwritable:
            for problem in exc.problems:
                events.emit("error", message=problem)
            events.emit("done", status="failed", exit_code=EXIT_INVALID, message=exc.problems[0])
        raise
    except (Cancelled, KeyboardInterrupt):
        with unwritable:
            events.emit("done", status="cancelled", exit_code=EXIT_CANCELLED, message=cancelled_message)
        raise Cancelled() from None
    except Exception as exc:
        logged = False
        if events.enabled:
            with unwritable:
                events.log(traceback.format_exc())
                logged = True
        if not logged:
            traceback.print_exc()
        details = f" (details in {events.log_path})" if logged else ""
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        message = f"internal error: {type(exc).__name__}: {first_line}{details}"
        with unwritable:
            events.emit("error", message=message)
            events.emit("done", status="failed", exit_code=EXIT_FAILED, message=message)
        raise EngineFailure(message) from None


def exit_code(command: Callable[[], int]) -> int:
    """Run a command; its bad input, cancel or failure becomes one line on stderr and an exit code."""
    try:
        return command()
    except UserError as exc:
        for problem in exc.problems:
            print(f"semiseg: error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    except (Cancelled, KeyboardInterrupt):
        print("semiseg: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except EngineFailure as exc:
        print(f"semiseg: {exc}", file=sys.stderr)
        return EXIT_FAILED
