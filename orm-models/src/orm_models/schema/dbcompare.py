"""The verdict from the database: what the migrations do, and whether the models agree with them.

A scratch PostgreSQL (`DATABASE_URL`/`--database-url`, else the embedded server of
`orm_models.testing`) is migrated to the baseline's head and then to the current head; both are
reflected and diffed with the same rules as the models, so a CHECK, a unique index or a default
that only a raw-SQL migration adds still raises the bump. The models are built in a second
scratch database and reflected too: any difference from the migrated head, or any difference
Alembic's `compare_metadata` reports, means the migrations and the models disagree.
"""

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .changes import Bump, Change
from .diff import diff_sequences, diff_tables
from .diff_triggers import diff_triggers
from .tables import PYTHON_ONLY

_SCRIPT = Path(__file__).resolve().parent / "dbsnapshot.py"
PACKAGE = "orm_models"
URL_VARIABLE = "ORM_MODELS_CHECK_URL"
"""How `dbsnapshot.py` gets the server URL."""


@dataclass
class DatabaseComparison:
    """What the migrated databases showed.

    Attributes:
        changes: Baseline head -> current head, classified from the reflected databases.
        drift: Where the migrated head and the models disagree (empty when they agree).
    """

    changes: list[Change] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


def _database_tables(tables: dict[str, Any]) -> dict[str, Any]:
    """Drop the facts a database cannot hold (Python defaults and the like)."""
    return {
        name: {
            **facts,
            "columns": {
                column: {k: v for k, v in col.items() if k not in PYTHON_ONLY}
                for column, col in facts["columns"].items()
            },
        }
        for name, facts in tables.items()
    }


@contextmanager
def package_tree(current: Path | None) -> Iterator[Path]:
    """A directory holding the `orm_models` to migrate: the installed one, a `src` tree, a wheel."""
    if current is None:
        import importlib

        yield Path(str(importlib.import_module(PACKAGE).__file__)).resolve().parent.parent
    elif current.is_dir():
        yield current
    elif current.suffix == ".whl":
        with tempfile.TemporaryDirectory(prefix="orm-models-wheel-") as scratch:
            with zipfile.ZipFile(current) as wheel:
                wheel.extractall(scratch)
            yield Path(scratch)
    else:
        raise ValueError(f"{current}: a manifest file ships no migrations; pass a wheel or a src tree")


@contextmanager
def database_server(url: str | None) -> Iterator[str]:
    """`url` when given, else the check's own embedded PostgreSQL, started for the duration."""
    if url:
        yield url
        return
    from orm_models.testing.postgres import DATABASE_URL_VARIABLE, cached_postgres, running_postgres

    if os.environ.get(DATABASE_URL_VARIABLE):
        with running_postgres() as configured:
            yield configured
        return
    # A kept cluster (per user and kind of server): initdb costs seconds, a restart far less.
    with cached_postgres(_cache_dir()) as started:
        yield started


def _cache_dir() -> Path:
    configured = os.environ.get("ORM_MODELS_CHECK_PGDATA")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "orm-models" / "check-postgres"


def compare_database(
    current: Path | None, baseline_head: str | None, url: str | None = None
) -> DatabaseComparison:
    """Migrate scratch databases and compare (see the module docstring).

    Args:
        current: The wheel or `src` tree under check; None for the installed package.
        baseline_head: The last release's migration head; None compares the head only.
        url: A PostgreSQL server to create scratch databases on; default `DATABASE_URL`, else
            an embedded server.

    Raises:
        ValueError: No migrations to run, or they fail.
        orm_models.testing.postgres.PostgresUnavailable: No PostgreSQL can be started.
    """
    with ExitStack() as stack:
        tree = stack.enter_context(package_tree(current))
        server = stack.enter_context(database_server(url))
        # The URL travels in the environment, not argv: `ps` shows argv, password included.
        result = subprocess.run(
            [sys.executable, str(_SCRIPT), str(tree), baseline_head or "-"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, URL_VARIABLE: server},
        )
    if result.returncode != 0:
        raise ValueError(f"migrating a scratch database failed: {error_line(result.stderr)}")
    snapshot = json.loads(result.stdout)
    return judge(snapshot)


def error_line(stderr: str) -> str:
    """The exception line of a child's traceback (SQLAlchemy ends it with a link, not the error)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.replace(".", "").replace("_", "").isalnum() and head.endswith(("Error", "Exception")):
            return line
    return lines[-1] if lines else "(no output)"


def judge(snapshot: dict[str, Any]) -> DatabaseComparison:
    """Classify a `dbsnapshot.py` result: the migrations' changes and the drift from the models."""
    head, models = snapshot["head"], snapshot["models"]
    comparison = DatabaseComparison(drift=[f"alembic: {diff}" for diff in snapshot["alembic"]])
    if "base" in snapshot:
        base = snapshot["base"]
        comparison.changes = diff_tables(base["tables"], head["tables"])
        comparison.changes += diff_sequences(base["sequences"], head["sequences"])
        # Triggers are no model fact (the models cannot declare them): migrations vs migrations only.
        comparison.changes += diff_triggers(base["triggers"], head["triggers"], base["tables"])
    differences = diff_tables(_database_tables(models["tables"]), _database_tables(head["tables"]))
    differences += diff_sequences(models["sequences"], head["sequences"])
    # An equivalence (e.g. the models say CURRENT_TIMESTAMP, the migration now()) is no drift.
    drift = [c for c in differences if c.bump is not Bump.NONE]
    comparison.drift += [f"{c.subject}: the migrations give {c.kind} ({c.detail})" for c in drift]
    same = (_database_tables(models["tables"]), models["sequences"]) == (
        _database_tables(head["tables"]),
        head["sequences"],
    )
    if not differences and not same:
        comparison.drift.append("the migrated head and the models differ in a fact no rule names")
    return comparison


def merge(model_changes: list[Change], database_changes: list[Change]) -> list[Change]:
    """The model changes plus what only the migrated database shows (e.g. a raw-SQL CHECK)."""
    seen = {(c.kind, c.subject) for c in model_changes}
    extra = [
        replace(c, detail=f"{c.detail} [in the migrated database only]")
        for c in database_changes
        if (c.kind, c.subject) not in seen
    ]
    return model_changes + extra
