"""Start-up guard for services: does this database serve the installed models?

A service calls `check_schema` before it reads or writes. It refuses when a table or column its
models map is missing (the database is behind: migrate it; or it was contracted past this release:
move the service to a newer orm-models), or when a table it writes has a NOT NULL column without
a server default that it does not write (its inserts would fail). A database ahead by additive
revisions is fine.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text

# Importing the models registers their tables on Base.metadata, what the guard compares by default.
from orm_models import people  # noqa: F401
from orm_models.__about__ import __version__
from orm_models.base import Base
from orm_models.migrate import alembic_config, current_revision
from orm_models.migrations import name_bridge

EXIT_SCHEMA = 4
"""Exit status the services use when the guard refuses (documented in README)."""


@dataclass(frozen=True)
class SchemaProblems:
    """What the guard found; empty lists mean the database serves the models."""

    revision: str | None
    missing: list[str]
    unwritable: list[str]
    """NOT NULL columns without a server default, in tables the client writes, that it does not write."""
    ahead: bool

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unwritable and self.revision is not None

    def message(self) -> str:
        """One line: what is wrong and the command that fixes it."""
        if self.revision is None:
            return "schema guard: database never migrated: run `orm-models migrate`"
        parts = []
        if self.missing:
            parts.append(f"missing {', '.join(self.missing)}")
        if self.unwritable:
            parts.append(
                f"NOT NULL without a server default, not written by this client: {', '.join(self.unwritable)}"
            )
        if self.ahead:
            fix = (
                f"a newer orm-models migrated it (revision {self.revision}): move this service to an "
                f"orm-models release that no longer maps them (it runs {__version__})"
            )
        else:
            fix = f"run `orm-models migrate` (orm-models {__version__} or newer)"
        return f"schema guard: database at revision {self.revision}: {'; '.join(parts)}; {fix}"


class SchemaGuardError(Exception):
    """The database does not serve this client's models; `str()` is the one-line message."""

    def __init__(self, problems: SchemaProblems) -> None:
        super().__init__(problems.message())
        self.problems = problems


def schema_problems(
    connection: Connection, *, written: Iterable[str] = (), meta: MetaData | None = None
) -> SchemaProblems:
    """Compare the models (`Base.metadata` unless given) with the live database, by reflection."""
    writes = set(written)
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    filled = _filled_by_trigger(connection)
    missing: list[str] = []
    unwritable: list[str] = []
    for table in (meta or Base.metadata).sorted_tables:
        if table.name not in present:
            missing.append(table.name)
            continue
        live = {column["name"]: column for column in inspector.get_columns(table.name)}
        missing.extend(f"{table.name}.{c.name}" for c in table.columns if c.name not in live)
        if not any(w.startswith(f"{table.name}.") for w in writes):
            continue
        for name, column in live.items():
            qualified = f"{table.name}.{name}"
            served = column.get("default") is not None or column.get("identity") or column.get("computed")
            if not column["nullable"] and not served and qualified not in writes and qualified not in filled:
                unwritable.append(qualified)
    revision = current_revision(connection)  # a revision this package does not ship when ahead
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    return SchemaProblems(revision, missing, unwritable, revision is not None and revision not in known)


def check_schema(connection: Connection, *, written: Iterable[str] = ()) -> SchemaProblems:
    """Raise `SchemaGuardError` unless the database serves the installed models."""
    problems = schema_problems(connection, written=written)
    if not problems.ok:
        raise SchemaGuardError(problems)
    return problems


def _filled_by_trigger(connection: Connection) -> set[str]:
    """Columns the expand-state bridge fills on insert (person.last_name while the trigger exists)."""
    found = connection.execute(
        text("SELECT 1 FROM pg_trigger WHERE tgname = :name AND NOT tgisinternal"),
        {"name": name_bridge.TRIGGER},
    ).first()
    return {"person.last_name"} if found else set()
