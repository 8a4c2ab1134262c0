"""One line, not a traceback, when `python -m tools.release` runs where its dependencies are missing.

The tool needs packaging, pypi-simple, twine and pypiserver: the nox sessions install them into
their venvs, a bare `python3` usually lacks them. The line names the missing module and the
session that runs the same command with everything installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

# `python -m tools.release COMMAND` -> the nox session that runs it (same arguments after `--`).
SESSIONS = {
    "index": "index",
    "build": "build",
    "publish": "publish",
    "release": "release",
    "versions": "versions",
}


def nox_command(argv: list[str]) -> str:
    """The documented way to run what `argv` asked for."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command in SESSIONS:
        return f"python3 noxfile.py -s {SESSIONS[command]}"
    return "python3 noxfile.py -l (lists the sessions; each installs what it needs)"


@contextmanager
def explain_missing(argv: list[str]) -> Iterator[None]:
    """Turn a missing third-party module into one line on stderr and exit status 2."""
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] == "tools":
            raise  # our own code is missing: a real bug, keep its traceback
        print(
            f"python -m tools.release: this Python lacks the module {error.name!r} the tool needs; "
            f"run it through nox, which installs it: {nox_command(argv)}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
