"""One line per event, through structlog: JSON for machines, a readable line on a terminal.

Two paths, one format. This service's own events go from structlog straight to stderr (the
per-request line is on every request's path). The stdlib records of the libraries, uvicorn's
included (whose own handlers are removed), go through the root logger's one handler and
structlog's ProcessorFormatter. Each line carries `timestamp` (UTC, ISO 8601), `level`, `logger`,
`event`, and during a request the `request_id` set by the middleware.
"""

import logging
import sys
import threading
from contextvars import ContextVar
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor

from api_service.config import Settings

# uvicorn installs handlers on these (and `uvicorn.access` prints its own request lines, which
# the middleware's line with duration and request id replaces).
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")
_UVICORN_ACCESS = "uvicorn.access"


# The request being served (set by observe.Observe). One ContextVar read per line, where
# structlog's merge_contextvars scans every variable of the context (anyio's, asyncio's, ...).
REQUEST_ID: ContextVar[str | None] = ContextVar("api_service.request_id", default=None)


def _add_request_id(logger: Any, method: str, event: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


# One lock for both ways a line reaches stderr, so lines from threads never interleave.
_WRITE_LOCK = threading.RLock()


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is now, so a later redirect (a wrapper, pytest) is followed."""

    _installed_by_api_service = True

    def createLock(self) -> None:  # noqa: N802 - logging's name
        self.lock = _WRITE_LOCK  # type: ignore[assignment]  # typeshed says Lock; logging uses an RLock

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _StderrLogger:
    """structlog's own output: one write of one line to the current `sys.stderr`.

    This service's events (the per-request line above all) skip the stdlib's records, handlers
    and second formatting pass: ~80 us per line that way, a few here.
    """

    def __init__(self, name: str) -> None:
        self.name = name  # read by structlog.stdlib.add_logger_name

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            sys.stderr.write(message + "\n")

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


_LOGGERS: dict[str, _StderrLogger] = {}


def _stderr_logger(name: str = "") -> _StderrLogger:
    logger = _LOGGERS.get(name)
    if logger is None:
        logger = _LOGGERS[name] = _StderrLogger(name)
    return logger


def _json(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def use_json(log_format: str, stream: TextIO | None = None) -> bool:
    if log_format == "auto":
        stream = stream or sys.stderr
        return not (hasattr(stream, "isatty") and stream.isatty())
    return log_format == "json"


def configure(settings: Settings) -> None:
    """Install the handler on the root logger and set up structlog (idempotent)."""
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: list[Processor]
    if use_json(settings.log_format):
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=_json)]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]

    # Libraries' records (uvicorn, SQLAlchemy, the stdlib loggers here) through the root handler.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                _add_request_id,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_installed_by_api_service", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
    # Alembic announces its context ("Context impl PostgresqlImpl.") on every revision read,
    # which /readyz and /version do: noise at INFO.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    access = logging.getLogger(_UVICORN_ACCESS)
    access.handlers.clear()
    access.propagate = False

    # This service's own events, straight to stderr. Not cached on first use, so that a second
    # configure (another level, another format: tests) applies to loggers made before it.
    structlog.configure(
        processors=[
            _add_request_id,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry `logger=name` (lazy: configure() may come later)."""
    return structlog.get_logger(name)
