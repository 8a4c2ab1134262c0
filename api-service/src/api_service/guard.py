"""Does the database's schema serve this service's orm-models?

This is the single seam for the schema guard (README: "Renaming a column"): `startup_check` runs
once in the app's lifespan and `schema_check` on every `/readyz`. The client registration of a
later issue goes here too; the callers stay as they are.

The check is by reflection, not by revision: this service only reads, so it needs every table and
column its models map, and nothing else. A database behind the head is fine when a contract
revision is held back (`orm-models migrate` stops before it while older clients still map what it
drops), and one ahead of it is fine when what came since is additive.
"""

import logging
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection, Engine, inspect

import orm_models

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Outcome of the guard: `ok` and, when not, what is wrong in words an operator can act on."""

    ok: bool
    database_revision: str | None
    expected_revision: str
    detail: str


@cache
def expected_revision() -> str:
    """The migration head shipped in the installed orm-models (read from its files once)."""
    return orm_models.head_revision()


def missing_from(connection: Connection) -> list[str]:
    """The tables (`table`) and columns (`table.column`) the models map but the database lacks."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    missing: list[str] = []
    for table in orm_models.Base.metadata.sorted_tables:
        if table.name not in present:
            missing.append(table.name)
            continue
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        missing.extend(
            f"{table.name}.{column.name}" for column in table.columns if column.name not in columns
        )
    return missing


def schema_check(connection: Connection) -> SchemaStatus:
    """Whether the database has everything the installed orm-models maps, and where it stands."""
    current = orm_models.current_revision(connection)
    expected = expected_revision()
    if current is None:
        detail = f"database never migrated, expected {expected}: run `orm-models migrate`"
        return SchemaStatus(False, current, expected, detail)
    missing = missing_from(connection)
    if missing:
        detail = f"database at revision {current} lacks {', '.join(missing)}: run `orm-models migrate`"
        return SchemaStatus(False, current, expected, detail)
    if current == expected:
        detail = "schema at the expected revision"
    else:
        detail = f"database at revision {current}, orm-models head {expected}: every mapped column is there"
    return SchemaStatus(True, current, expected, detail)


def startup_check(engine: Engine) -> SchemaStatus:
    """Run at start-up, once. Raises the database's error when it cannot be reached."""
    with engine.connect() as connection:
        status = schema_check(connection)
    if status.ok:
        log.info("schema guard: %s", status.detail)
    else:
        # Not fatal today: /readyz stays 503 until the schema matches. The start-up guard
        # will refuse to start instead, here.
        log.error("schema guard: %s", status.detail)
    return status
