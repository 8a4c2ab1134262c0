"""Throwaway models for the schema tests: a fresh declarative base per manifest."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, mapped_column

from orm_models.base import NAMING_CONVENTION
from orm_models.schema import Change, Manifest, build_manifest, lint_revision
from orm_models.schema.lint import RevisionLint

PROJECT = Path(__file__).resolve().parents[1]

_LINTED_REVISION = """
import sqlalchemy as sa
from alembic import op
from sqlalchemy import text
from sqlalchemy.orm import Session

revision = "0009"
down_revision = "0008"
phase = "{phase}"
{extra}

def upgrade() -> None:
{body}
"""


def lint_upgrade(body: str, phase: str = "expand", extra: str = "") -> RevisionLint:
    """The migration lint of a revision whose `upgrade()` is `body` (indented), `extra` at module level."""
    return lint_revision(_LINTED_REVISION.format(phase=phase, extra=extra, body=body))


def tree_with_revision(tmp_path: Path, message: str, upgrade: str, downgrade: str) -> tuple[Path, str]:
    """A copy of the orm-models tree (sources, baseline) plus one expand revision, as an author writes it.

    `orm-models revision` numbers and phases it; `upgrade`/`downgrade` are the two functions'
    full text (they may use `op` and `sa`). Returns the tree's root and the new revision's id.
    """
    root = tmp_path / "orm-models"
    shutil.copy2(PROJECT.parent / "pyproject.toml", tmp_path / "pyproject.toml")  # ruff settings
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "schema-baseline.json"):
        shutil.copy2(PROJECT / name, root / name)
    cli = str(Path(sys.executable).parent / "orm-models")
    made = subprocess.run(
        [cli, "revision", "-m", message, "--phase", "expand"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    slug = re.sub(r"\W+", "_", message.lower()).strip("_")
    [written] = (root / "src" / "orm_models" / "migrations" / "versions").glob(f"rev_*_{slug}.py")
    body = written.read_text()
    for name, text in (("upgrade", upgrade), ("downgrade", downgrade)):
        stub = f"def {name}() -> None:\n    pass"
        assert stub in body, body
        body = body.replace(stub, text)
    written.write_text("import sqlalchemy as sa\nfrom alembic import op\n\n" + body)
    revision = re.search(r'^revision: str = "(\w+)"', body, re.MULTILINE)
    assert revision is not None
    return root, revision.group(1)


def repo_root() -> Path:
    """The git checkout holding this test file; the tests need its history."""
    for parent in Path(__file__).resolve().parents:
        if (parent / ".git").exists():
            return parent
    raise AssertionError(f"{__file__} is not inside a git checkout: the schema tests need its history")


def manifest(
    columns: dict[str, Any] | None = None,
    *,
    table_args: tuple[Any, ...] = (),
    extra: dict[str, dict[str, Any]] | None = None,
    version: str = "1.0.0",
) -> Manifest:
    """A manifest of table `person` (an `id` plus `columns`) and any `extra` tables, on a fresh base."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    tables = {"person": {"__table_args__": table_args, **(columns or {})}, **(extra or {})}
    for table, body in tables.items():
        namespace = {
            "__module__": "models",
            "__tablename__": table,
            "id": mapped_column(Integer, primary_key=True),
            **body,
        }
        type(table.title().replace("_", ""), (Base,), namespace)
    return build_manifest(Base.metadata, Base.registry.mappers, version=version)


def only(changes: list[Change], kind: str) -> Change:
    """The one change of `kind`, failing with the whole list otherwise."""
    found = [change for change in changes if change.kind == kind]
    assert len(found) == 1, changes
    return found[0]
