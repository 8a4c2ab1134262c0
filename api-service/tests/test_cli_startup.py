"""`api-service --help` and `--version` start fast: they import neither SQLAlchemy nor what is built on it.

Checked in a fresh interpreter by what it imported, not by the time it took (the speed itself is
measured in the README's figures, on a quiet machine).
"""

import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "psycopg2", "pydantic")

_PROBE = """
import sys
from api_service.__main__ import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
print("imported:", ",".join(sorted({{name.split(".")[0] for name in heavy}})))
"""


def _imported(*arguments: str) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.splitlines()[-1], result.stdout


@pytest.mark.parametrize("arguments", [("--version",), ("--help",)])
def test_version_and_help_import_no_database_stack(arguments: tuple[str, ...]) -> None:
    imported, output = _imported(*arguments)

    assert imported == "imported: ", output
    assert "api-service" in output
