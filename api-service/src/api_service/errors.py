"""Errors as JSON: 503 with Retry-After when the database is unreachable, never a traceback."""

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api_service.schemas.common import ErrorMessage

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "database unavailable"
SCHEMA_NOT_READY = "database schema not ready"
# undefined_table, undefined_column: the database is not migrated to what the models expect.
_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "cannot talk to the database now", not "this query is wrong".

    psycopg2 raises OperationalError for refused/dropped connections, admin shutdown and
    statement timeouts; InterfaceError for a connection closed under it; the pool raises its
    TimeoutError when every connection is busy. Anything else is a bug, and a 500.
    """
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def is_schema_missing(exc: BaseException) -> bool:
    """True when PostgreSQL says a table or column is missing: not migrated (yet), not a bug here.

    /readyz says the same through the schema guard; the client gets a 503 to retry, not a 500.
    """
    return isinstance(exc, ProgrammingError) and getattr(exc.orig, "pgcode", None) in _SCHEMA_SQLSTATES


def unavailable_response(retry_after_seconds: int, detail: str = DATABASE_UNAVAILABLE) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=503,
        headers={"Retry-After": str(retry_after_seconds)},
    )


def install_handlers(app: FastAPI, retry_after_seconds: int) -> None:
    async def database_error(request: Request, exc: Exception) -> Response:
        if is_database_unavailable(exc):
            # One line, no traceback: while the database is down every request would log one.
            log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc.args[0])
            return unavailable_response(retry_after_seconds)
        if is_schema_missing(exc):
            log.error("%s %s: %s: %s", request.method, request.url.path, SCHEMA_NOT_READY, exc.args[0])
            return unavailable_response(retry_after_seconds, SCHEMA_NOT_READY)
        return await unexpected_error(request, exc)

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(PoolTimeoutError, database_error)
    app.add_exception_handler(Exception, unexpected_error)


RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorMessage,
        "description": "Database unreachable, or not migrated yet: retry later.",
        "headers": RETRY_AFTER_HEADER,
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorMessage, "description": "No such record."}}
