"""`orm-models --help` and `--version` start fast: they import neither SQLAlchemy nor what is built on it.

Checked in a fresh interpreter by what it imported (`-X importtime` lists every module), not by
the time it took: the speed itself is measured on a quiet machine, not asserted. The package's
names are loaded on first use, so the second half checks that a submodule imported on its own
still sees every model and the package's `migrate` function, as the eager imports gave.
"""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

HEAVY = frozenset({"sqlalchemy", "alembic", "psycopg2", "pydantic"})
COMMANDS = ("migrate", "status", "clients", "current", "revision", "check", "changelog", "manifest")

# The console script installed beside the interpreter running the tests, run by that interpreter.
CLI = Path(sys.executable).parent / "orm-models"


def _run_cli(*arguments: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The script's result and every module it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(CLI), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # `import time: self [us] | cumulative | imported package`, one line per module.
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return result, imported


@pytest.mark.parametrize("arguments", [("--version",), ("--help",)])
def test_version_and_help_import_no_database_stack(arguments: tuple[str, ...]) -> None:
    result, imported = _run_cli(*arguments)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "orm_models.cli" in imported  # the listing is read, so an empty one cannot pass
    assert sorted(name for name in imported if name.split(".")[0] in HEAVY) == []


def test_version_names_the_installed_release() -> None:
    result, _ = _run_cli("--version")

    assert result.stdout.strip() == f"orm-models {version('orm-models')}"


def test_help_lists_every_command() -> None:
    result, _ = _run_cli("--help")

    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert set(COMMANDS) <= listed, result.stdout


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_a_commands_help_shows_the_gates_defaults(command: str) -> None:
    from orm_models.contract_gate import DEFAULT_LIVE_WINDOW
    from orm_models.status import format_duration

    result, _ = _run_cli(command, "--help")

    assert result.returncode == 0, result.stderr[-2000:]
    assert f"(default {format_duration(DEFAULT_LIVE_WINDOW)};" in " ".join(result.stdout.split())


_SUBMODULE_FIRST = """
import importlib, sys
importlib.import_module(sys.argv[1])
from orm_models.base import Base
alone = sorted(Base.metadata.tables)
import orm_models
print(callable(orm_models.migrate), alone == sorted(orm_models.Base.metadata.tables), alone != [])
"""


@pytest.mark.parametrize(
    "module", ["orm_models.guard", "orm_models.registry", "orm_models.migrate", "orm_models.status"]
)
def test_a_submodule_imported_first_sees_every_model(module: str) -> None:
    # guard and registry compare with Base.metadata by default: it must hold every model's table
    # though nothing touched the package's names yet; and orm_models.migrate stays the function.
    result = subprocess.run(
        [sys.executable, "-c", _SUBMODULE_FIRST, module], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True", "True"]
