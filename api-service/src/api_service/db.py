"""The engine (one per process) and the session factory built on it."""

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from api_service.config import Settings

_RETURNED_AT = "api_service.returned_at"


def make_engine(settings: Settings) -> Engine:
    """Create the process's engine; no connection is made until the first request needs one."""
    engine = create_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        # Every route only reads, and each page is one statement, so one statement's snapshot is
        # all the consistency a request needs. Autocommit saves the BEGIN and ROLLBACK round trips
        # of each request, and makes returning a connection to the pool free of I/O.
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": settings.connect_timeout_seconds,
            # UTC: timestamps rendered by PostgreSQL read the same whatever the server's zone.
            "options": f"-c statement_timeout={settings.statement_timeout_ms} -c TimeZone=UTC",
            "application_name": "api-service",
        },
    )
    _ping_idle_connections(engine, settings.ping_after_idle_seconds)
    _skip_rollbacks(engine)
    return engine


def _skip_rollbacks(engine: Engine) -> None:
    """No DBAPI rollback on this engine: with autocommit there is never a transaction to undo.

    SQLAlchemy still calls `rollback()` twice per request (closing the session's transaction,
    then resetting the connection on its return to the pool), and sessions close on the event
    loop (deps.get_session). psycopg2 releases the GIL around every call, even one that has
    nothing to do, and getting it back waits behind the request threads for up to the switch
    interval (5 ms): measured as the event loop's largest wait under 32 connections.
    """
    engine.dialect.do_rollback = _no_rollback  # type: ignore[method-assign]


def _no_rollback(dbapi_connection: Any) -> None:
    return None


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Pre-ping, but only connections idle for more than `idle_seconds`.

    SQLAlchemy's `pool_pre_ping=True` pings on every checkout: one more round trip per request,
    which measured as long as the page query itself under load. A connection used within the last
    second is almost surely alive; when it is not (the database restarted in that second), the
    failed statement invalidates the whole pool and `queries` runs the read once more on a fresh
    connection. Either way a restarted database costs no failed request and no app restart; a
    database that stays down gets 503s until it is back.
    """

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at <= idle_seconds:
            return  # brand new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out (or opens) another, as pre-ping does.
            raise DisconnectionError(str(exc)) from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire objects on commit: routes read, they never commit."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)
