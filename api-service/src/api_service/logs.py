"""One line per event, through structlog: JSON for machines, a readable line on a terminal.

Everything goes through the root logger's one handler: this service's structlog loggers, the
stdlib loggers of the libraries (uvicorn's included, whose own handlers are removed) and
`logging.getLogger(__name__)` in the modules here. Each line carries `timestamp` (UTC, ISO 8601),
`level`, `logger`, `event`, and during a request the `request_id` bound by the middleware.
"""

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import Processor

from api_service.config import Settings

# uvicorn installs handlers on these (and `uvicorn.access` prints its own request lines, which
# the middleware's line with duration and request id replaces).
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")
_UVICORN_ACCESS = "uvicorn.access"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is now, so a later redirect (a wrapper, pytest) is followed."""

    _installed_by_api_service = True

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _json(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def use_json(log_format: str, stream: TextIO | None = None) -> bool:
    if log_format == "auto":
        stream = stream or sys.stderr
        return not (hasattr(stream, "isatty") and stream.isatty())
    return log_format == "json"


def configure(settings: Settings) -> None:
    """Install the handler on the root logger (idempotent: a second call replaces the first)."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if use_json(settings.log_format):
        renderer = structlog.processors.JSONRenderer(serializer=_json)
        final: list[Processor] = [structlog.processors.format_exc_info, renderer]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_installed_by_api_service", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
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
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
