"""Errors a user can act on.

A `UserError` carries one or more one-line messages that name the file or field and the
problem. The CLI prints them and exits with status 2, without a traceback; everything else
is an engine bug and exits with status 1.
"""


class UserError(Exception):
    """Bad input: a message per problem, each one line."""

    def __init__(self, *problems: str):
        self.problems = [p for p in problems if p] or ["invalid input"]
        super().__init__("; ".join(self.problems))


class Cancelled(Exception):
    """The user asked the engine to stop (signal or cancel file)."""


def first_line(exc: Exception) -> str:
    """A library's exception as the tail of a one-line message (GDAL and pyproj write several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
