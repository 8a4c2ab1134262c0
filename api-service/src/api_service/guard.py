"""Does the database's schema serve this service's orm-models?

This is the single seam for the schema guard (README: "Renaming a column"): `startup_check` runs
once in the app's lifespan and `schema_check` on every `/readyz`. The client registration of a
later issue goes here too; the callers stay as they are.

The check is orm-models' own start-up guard (`orm_models.guard`, by reflection, not by revision):
this service only reads, so it needs every table and column its models map, and nothing else. A
database behind the head is fine when a contract revision is held back (`orm-models migrate` stops
before it while older clients still map what it drops), and one ahead of it is fine when what came
since is additive. When something is missing, the advice is the guard's, word for word, as the
loader prints it: behind, run `orm-models migrate`; ahead (a newer orm-models migrated and
contracted it), move this service to a newer orm-models.
"""

import logging
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection, Engine

import orm_models
from orm_models.guard import schema_problems

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
    """Whether the database has everything the installed orm-models maps, and where it stands."""
    expected = expected_revision()
    problems = schema_problems(connection)  # read-only: it writes no table, so only missing ones count
    current = problems.revision
    if not problems.ok:
        return SchemaStatus(False, current, expected, problems.message())
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
