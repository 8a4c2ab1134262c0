"""Alembic environment: runs on the caller's connection or engine, else on a database URL.

Where the database comes from, first match wins:

1. `config.attributes["connection"]`: a Connection or an Engine (as pytest-alembic and other
   tools pass it). Alembic begins the migrations' transaction and commits it on success, so
   `op.get_context().autocommit_block()` (`CREATE INDEX CONCURRENTLY`) works; on a Connection
   already in a transaction (the caller's) they run inside it and an autocommit block fails
   with `AutocommitInCallerTransactionError` naming the revision: committing would end it;
2. the `sqlalchemy.url` option;
3. `DATABASE_URL`, for the `alembic` command run from the `orm-models` checkout
   (`[tool.alembic]` in its pyproject.toml).

URLs go through `orm_models.urls.database_url`: `postgresql://` and `postgres://` use psycopg2.
"""

import os
import sys
from types import FrameType

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, create_engine

# Importing the models registers their tables on Base.metadata for autogenerate.
from orm_models import people  # noqa: F401
from orm_models.base import NAMING_CONVENTION, Base
from orm_models.migrate import AFTER_MIGRATIONS, BEFORE_MIGRATIONS, AutocommitInCallerTransactionError
from orm_models.registry import metadata as registry_metadata
from orm_models.urls import database_url
from orm_models.version_state import VERSION_TABLE, not_a_version_table, sync_version_table, write_legacy

config = context.config


def _target_metadata() -> MetaData:
    """What the migrations build: the models, and the client registry they own outside
    Base.metadata (no service maps it; without it autogenerate would propose dropping it).

    One MetaData, not a list: Alembic's operations take the naming convention from the
    target, so a list would leave `op.create_table` constraints with PostgreSQL's names.
    """
    target = MetaData(naming_convention=NAMING_CONVENTION)
    for metadata in (Base.metadata, registry_metadata):
        for table in metadata.sorted_tables:
            table.to_metadata(target)
    return target


TARGET_METADATA = _target_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=TARGET_METADATA,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=False,
        version_table=VERSION_TABLE,
        include_name=not_a_version_table,
    )
    if connection.in_transaction():  # the caller's: Alembic cannot commit it for an autocommit block
        setattr(context.get_context(), "autocommit_block", _refuse_autocommit)  # noqa: B010
    scripts = context.script
    before = config.attributes.get(BEFORE_MIGRATIONS)
    with context.begin_transaction():
        # The heads live in VERSION_TABLE; alembic_version keeps the one row releases up to 2.4
        # read (orm_models.version_state): read before, written after, in the same transaction.
        sync_version_table(connection, scripts)
        if before is not None:  # the contract gate: decided in the transaction that applies it
            before(connection)
        context.run_migrations()
        write_legacy(connection, scripts)
        after = config.attributes.get(AFTER_MIGRATIONS)
        if after is not None:  # the contract gates tried before this expand commits
            after(connection)


class _RefuseAutocommit:
    """Stands in for `autocommit_block` on the caller's transaction: raises on entering."""

    def __enter__(self) -> None:
        raise AutocommitInCallerTransactionError(_calling_revision() or "(unknown)")

    def __exit__(self, *_exc: object) -> None:
        return None


def _refuse_autocommit() -> _RefuseAutocommit:
    return _RefuseAutocommit()


def _calling_revision() -> str | None:
    """The revision module whose upgrade or downgrade opened the block (its `revision` global)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        names = frame.f_globals
        if "revision" in names and "down_revision" in names:
            return str(names["revision"])
        frame = frame.f_back
    return None


def _configured_url() -> str | None:
    try:
        return config.get_main_option("sqlalchemy.url")
    except CommandError:  # no alembic.ini at all: the `alembic` command on pyproject.toml alone
        return None


def _url() -> str:
    url = _configured_url() or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no connection given: set sqlalchemy.url or DATABASE_URL")
    return database_url(url).render_as_string(hide_password=False)


def _run_on_engine(engine: Engine) -> None:
    with engine.connect() as connection:  # outside a transaction: Alembic begins and commits it
        _run(connection)


def _run_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
    elif isinstance(given, Engine):
        _run_on_engine(given)  # the caller owns the engine: it stays open
    elif given is not None:
        raise TypeError(f"config.attributes['connection'] must be a Connection or an Engine, not {given!r}")
    else:
        engine = create_engine(_url())
        try:
            _run_on_engine(engine)
        finally:
            engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=TARGET_METADATA, literal_binds=True, version_table=VERSION_TABLE
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
