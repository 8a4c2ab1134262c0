"""Errors as JSON: 503 with Retry-After when the database is unreachable, never a traceback."""

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api_service.logs import get_logger
from api_service.schemas.common import ErrorMessage

log = get_logger(__name__)

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


def database_error_fields(exc: BaseException) -> dict[str, object]:
    """The log fields of a database error: its SQLSTATE and the first line of its message.

    The driver's message goes on for lines (`LINE 3: FROM person ...`, a caret under it); the first
    line and the code say what happened, in one log line.
    """
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip() or type(original).__name__
    return {"sqlstate": getattr(original, "pgcode", None), "error": text.splitlines()[0]}


def install_handlers(app: FastAPI, retry_after_seconds: int) -> None:
    async def database_error(request: Request, exc: Exception) -> Response:
        fields = database_error_fields(exc)
        # The traceback only at DEBUG: while the database is down every request would log one.
        log.debug("database error traceback", exc_info=exc)
        if is_database_unavailable(exc):
            log.warning("database unavailable", **fields)
            return unavailable_response(retry_after_seconds)
        if is_schema_missing(exc):
            log.error(SCHEMA_NOT_READY, **fields)
            return unavailable_response(retry_after_seconds, SCHEMA_NOT_READY)
        log.error("database error", exc_info=exc, **fields)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(PoolTimeoutError, database_error)
    # Any other exception: `observe.Observe` logs it with the request id and answers a JSON 500.


RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorMessage,
        "description": "Database (or token issuer) unreachable, or database not migrated yet: retry later.",
        "headers": RETRY_AFTER_HEADER,
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorMessage, "description": "No such record."}}
