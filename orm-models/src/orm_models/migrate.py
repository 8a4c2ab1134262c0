"""Run the packaged Alembic migrations against a database, from code or the CLI."""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine

# Resolved from the installed package, so a service migrates with the wheel it runs on.
SCRIPT_LOCATION = "orm_models:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code; no alembic.ini is needed.

    Args:
        connection: When given, migrations run on it (and inside its transaction).
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


def migrate(target: str | Engine | Connection, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest shipped).

    Args:
        target: A database URL, an engine, or a connection. With a connection the caller owns
            the transaction; otherwise the upgrade commits on success.
        revision: Any Alembic revision identifier.
    """
    with _connection(target) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(target: str | Engine | Connection, revision: str) -> None:
    """Downgrade the database to `revision` (`base` removes every table of this package)."""
    with _connection(target) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextmanager
def _connection(target: str | Engine | Connection) -> Iterator[Connection]:
    if isinstance(target, Connection):
        yield target
        return
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if isinstance(target, str):
            engine.dispose()
