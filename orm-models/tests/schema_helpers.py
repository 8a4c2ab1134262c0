"""Throwaway models for the schema tests: a fresh declarative base per manifest."""

from pathlib import Path
from typing import Any

from sqlalchemy import Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, mapped_column

from orm_models.base import NAMING_CONVENTION
from orm_models.schema import Change, Manifest, build_manifest

PROJECT = Path(__file__).resolve().parents[1]


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
