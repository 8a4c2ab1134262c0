"""Is the database's schema the one this service's orm-models expects?

This is the single seam for DESIGN §3: `startup_check` runs once in the app's lifespan and
`schema_check` on every `/readyz`. The schema guard and client registration of a later issue
replace their bodies; the callers stay as they are.
"""

import logging
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection, Engine

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


def schema_check(connection: Connection) -> SchemaStatus:
    """Compare the database's Alembic revision with the installed orm-models' head."""
    current = orm_models.current_revision(connection)
    expected = expected_revision()
    if current == expected:
        return SchemaStatus(True, current, expected, "schema at the expected revision")
    found = "never migrated" if current is None else f"at revision {current}"
    return SchemaStatus(
        False, current, expected, f"database {found}, expected {expected}: run `orm-models migrate`"
    )


def startup_check(engine: Engine) -> SchemaStatus:
    """Run at start-up, once. Raises the database's error when it cannot be reached."""
    with engine.connect() as connection:
        status = schema_check(connection)
    if status.ok:
        log.info("schema guard: %s", status.detail)
    else:
        # Not fatal today: /readyz stays 503 until the schema matches. The guard of DESIGN §3
        # will refuse to start instead, here.
        log.error("schema guard: %s", status.detail)
    return status
