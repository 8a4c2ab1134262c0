"""Run the packaged Alembic migrations against a database, from code or the CLI."""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine

from orm_models.urls import database_url

# Resolved from the installed package, so a service migrates with the wheel it runs on.
SCRIPT_LOCATION = "orm_models:migrations"


def alembic_config(connection: Connection | Engine | None = None) -> Config:
    """Build the Alembic configuration in code; no alembic.ini is needed.

    Args:
        connection: When given, migrations run on it: a Connection inside its transaction,
            an Engine in a transaction of their own that commits on success.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped in this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("orm_models ships no migrations")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(
    target: str | Engine | Connection, revision: str = "head", *, contract: bool = False
) -> str | None:
    """Upgrade the database towards `revision` (default: the newest shipped).

    Expand revisions always run. A **contract** revision (`phase = "contract"`: it drops or
    tightens what older clients may still map) runs only with `contract=True`, or on a database
    that was never migrated (no client can depend on it yet); otherwise the upgrade stops just
    before it and its id is returned, so nothing an old release maps is removed by accident.

    Args:
        target: A database URL (`postgresql://`, `postgres://` and `postgresql+psycopg2://` all
            use psycopg2, see `orm_models.urls`), an engine, or a connection. With a connection
            the caller owns the transaction; otherwise the upgrade commits on success.
        revision: Any Alembic revision identifier.
        contract: Also apply contract revisions (run it once no live client needs what they drop).

    Returns:
        The id of the first contract revision held back, or None when `revision` was reached.
    """
    with _connection(target) as connection:
        config = alembic_config(connection)
        current = current_revision(connection)
        held = None if contract or current is None else _first_contract(config, current, revision)
        if held is None:
            command.upgrade(config, revision)
            return None
        if held.down_revision != current:
            command.upgrade(config, str(held.down_revision))
        return held.revision


def pending_contract_drops(revision_id: str) -> tuple[str, ...]:
    """What a contract revision declares it removes (`drops = ("table.column", ...)`)."""
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision_id)
    return tuple(getattr(script.module, "drops", ())) if script is not None else ()


def _first_contract(config: Config, current: str, target: str) -> Script | None:
    """The oldest contract revision between `current` (exclusive) and `target` (inclusive)."""
    scripts = ScriptDirectory.from_config(config)
    pending = [s for s in scripts.iterate_revisions(target, current) if s.revision != current]
    for script in reversed(pending):  # iterate_revisions walks newest first
        if getattr(script.module, "phase", "expand") == "contract":
            return script
    return None


def downgrade(target: str | Engine | Connection, revision: str) -> None:
    """Downgrade the database to `revision` (`base` removes every table of this package)."""
    with _connection(target) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextmanager
def _connection(target: str | Engine | Connection) -> Iterator[Connection]:
    if isinstance(target, Connection):
        yield target
        return
    engine = create_engine(database_url(target)) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if isinstance(target, str):
            engine.dispose()
