"""The schema manifest: a deterministic JSON description of the tables and mapped classes.

Same models in, byte-identical file out: every mapping is sorted, nothing depends on the
machine, the path of the checkout or the order in which modules were imported.
"""

import json
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    ForeignKeyConstraint,
    Identity,
    MetaData,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapper

MANIFEST_NAME = "schema_manifest.json"
"""File name of the manifest inside every wheel, next to `__init__.py` of `orm_models`."""

FORMAT = 1
"""Bumped when the manifest's shape changes; `load` refuses formats it does not know."""

Manifest = dict[str, Any]

# PostgreSQL is the one dialect we run on, so its DDL spelling is the canonical type.
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def canonical_type(column: Column[Any]) -> str:
    """The column's type as PostgreSQL DDL spells it, with length, precision and enum values."""
    if isinstance(column.type, Enum):
        # Compiled, an enum is only its name; the values are what decides compatibility.
        values = ", ".join(repr(value) for value in column.type.enums)
        return f"ENUM {column.type.name}({values})"
    return str(column.type.compile(dialect=_DIALECT))


def _column(table: Table, column: Column[Any]) -> dict[str, Any]:
    server_default = column.server_default
    return {
        "type": canonical_type(column),
        "nullable": bool(column.nullable),
        # An Identity is stored as the server default; it is reported on its own below.
        "server_default": server_default is not None and not isinstance(server_default, Identity),
        # Recorded only to explain verdicts: a Python-side default is invisible to old writers.
        "python_default": column.default is not None,
        "primary_key": bool(column.primary_key),
        "identity": column.identity is not None,
        "autoincrement": table.autoincrement_column is column,
    }


def _names(columns: Any) -> list[str]:
    return [str(column.name) for column in columns]


def _table(table: Table) -> dict[str, Any]:
    unique: dict[str, Any] = {}
    foreign_keys: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    for constraint in table.constraints:
        name = str(constraint.name)
        if isinstance(constraint, UniqueConstraint):
            unique[name] = {"columns": _names(constraint.columns)}
        elif isinstance(constraint, ForeignKeyConstraint):
            foreign_keys[name] = {
                "columns": _names(constraint.columns),
                "referred_table": constraint.referred_table.fullname,
                "referred_columns": [str(element.column.name) for element in constraint.elements],
                "ondelete": constraint.ondelete,
                "onupdate": constraint.onupdate,
            }
        elif isinstance(constraint, CheckConstraint):
            checks[name] = {"sqltext": str(constraint.sqltext)}
    indexes = {
        str(index.name): {
            "columns": [str(getattr(e, "name", e)) for e in index.expressions],
            "unique": bool(index.unique),
        }
        for index in table.indexes
    }
    return {
        "columns": {str(column.name): _column(table, column) for column in table.columns},
        "primary_key": {"name": str(table.primary_key.name), "columns": _names(table.primary_key.columns)},
        "unique_constraints": unique,
        "indexes": indexes,
        "foreign_keys": foreign_keys,
        "check_constraints": checks,
    }


def _mapped_class(mapper: Mapper[Any]) -> dict[str, Any]:
    table = mapper.persist_selectable
    attributes = {
        prop.key: str(prop.columns[0].name)
        for prop in mapper.column_attrs
        if isinstance(prop.columns[0], Column) and prop.columns[0].table is table
    }
    return {"table": getattr(table, "fullname", str(table)), "attributes": attributes}


def build_manifest(
    metadata: MetaData,
    mappers: Any = (),
    *,
    version: str | None = None,
    migration_head: str | None = None,
    api: dict[str, Any] | None = None,
    migrations: list[str] | None = None,
) -> Manifest:
    """Describe `metadata`, the mapped classes and (optionally) the Python API.

    Args:
        metadata: The `MetaData` the migrations target (`Base.metadata`).
        mappers: The mappers of the declarative registry (`Base.registry.mappers`).
        version: The package version the manifest describes.
        migration_head: The newest Alembic revision shipped with these models.
        api: The public Python API, as `orm_models.schema.api_surface.api_snapshot` returns it.
        migrations: Every revision shipped, oldest first (so a revision inserted before a
            released one is noticed, not only one after the head).

    Returns:
        A JSON-ready mapping; `dumps` turns it into the canonical bytes.
    """
    classes = {
        f"{mapper.class_.__module__}.{mapper.class_.__qualname__}": _mapped_class(mapper)
        for mapper in mappers
    }
    return {
        "format": FORMAT,
        "version": version,
        "migration_head": migration_head,
        "migrations": migrations,
        "tables": {table.fullname: _table(table) for table in metadata.tables.values()},
        "classes": classes,
        "api": api or {},
    }


def dumps(manifest: Manifest) -> str:
    """The canonical text of a manifest: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def loads(text: str, *, source: str = "manifest") -> Manifest:
    """Parse a manifest, refusing anything that is not one.

    Raises:
        ValueError: The text is not JSON or not a manifest of a known format.
    """
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "tables" not in manifest:
        raise ValueError(f"{source}: not an orm-models schema manifest of format {FORMAT}")
    return manifest


def write(manifest: Manifest, path: Path) -> None:
    """Write the canonical text of `manifest` to `path`."""
    path.write_text(dumps(manifest), encoding="utf-8")
