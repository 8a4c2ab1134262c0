"""The schema manifest: a deterministic JSON description of the tables and mapped classes.

Same models in, byte-identical file out: every mapping is sorted, nothing depends on the
machine, the path of the checkout or the order in which modules were imported.
"""

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData

from .mapped import classes_facts
from .tables import canonical_type as _canonical_type
from .tables import metadata_facts

MANIFEST_NAME = "schema_manifest.json"
"""File name of the manifest inside every wheel, next to `__init__.py` of `orm_models`."""

FORMAT = 2
"""Bumped when the manifest's shape changes; `load` refuses formats it does not know.

2 (after 2.2.1): values, not only presence (server/Python default text, index options, identity
and computed options, enum values apart from the type), sequences, relationships, API by value.
"""

Manifest = dict[str, Any]


def canonical_type(column: Column[Any]) -> str:
    """The column's type as PostgreSQL DDL spells it, with length and precision.

    A native enum is `ENUM name`: its values are recorded apart (`enum`), so that a new value
    is classified as such rather than as a type change.
    """
    return _canonical_type(column)


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
    return {
        "format": FORMAT,
        "version": version,
        "migration_head": migration_head,
        "migrations": migrations,
        **metadata_facts(metadata),
        "classes": classes_facts(mappers),
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
    if not isinstance(manifest, dict) or "tables" not in manifest:
        raise ValueError(f"{source}: not an orm-models schema manifest")
    if manifest.get("format") != FORMAT:
        raise ValueError(
            f"{source}: manifest format {manifest.get('format')}, this tool reads {FORMAT}; rebuild it "
            "from that release's source: orm-models manifest --from <src dir> --output <file>"
        )
    return manifest


def write(manifest: Manifest, path: Path) -> None:
    """Write the canonical text of `manifest` to `path`."""
    path.write_text(dumps(manifest), encoding="utf-8")
