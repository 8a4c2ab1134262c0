"""The engine (one per process) and the session factory built on it."""

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from api_service.config import Settings


def make_engine(settings: Settings) -> Engine:
    """Create the process's engine; no connection is made until the first request needs one."""
    return create_engine(
        settings.database_url.get_secret_value(),
        # Pre-ping tests each pooled connection on checkout, so after a database restart the
        # first request gets a fresh connection instead of an error: recovery needs no restart.
        pool_pre_ping=True,
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


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire objects on commit: routes read, they never commit."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)
