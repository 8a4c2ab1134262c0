"""Log lines: valid logfmt (values with spaces quoted) or JSON (`LOADER_LOG_FORMAT=json`), never a secret.

Our own lines are `event(log.info, "name", key=value, ...)`: the message object keeps its
fields, so the JSON formatter writes them as JSON and `str()` of it is the logfmt body (what
a host's own handler, Lambda's or pytest's, shows). Lines from other libraries become
`event=log logger=httpx message="..."`. Every record, whoever logs it and whichever handler
prints it, is scrubbed when it is created (`redaction.scrub`: URL userinfo and query strings,
credential header values, every secret the loader was given); httpx logs each request's full
URL at INFO, botocore its signed headers at DEBUG.
"""

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from loader_service.redaction import scrub

_installed = False


class Event:
    """A structured message: an event name and its fields."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: dict[str, object]) -> None:
        self.name, self.fields = name, fields

    def __str__(self) -> str:
        # Scrubbed here too: a host's own handler (Lambda's, pytest's) prints str() of the message.
        return scrub(render([("event", self.name), *self.fields.items()]))


def event(emit: Callable[..., None], name: str, /, **fields: object) -> None:
    """Log `name` with `fields`, e.g. `event(log.warning, "reject", record=17, reason="...")`."""
    emit(Event(name, fields))


def value(item: object) -> str:
    """A logfmt value: bare when it is one plain word, else a quoted string with escapes."""
    if item is None:
        return '""'
    if isinstance(item, float):
        text = f"{item:.6g}" if abs(item) < 1e15 else str(item)
    else:
        text = str(item)
    if text and all(c.isprintable() and c not in ' ="\\' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def render(pairs: list[tuple[str, object]]) -> str:
    return " ".join(f"{key}={value(item)}" for key, item in pairs)


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _pairs(record: logging.LogRecord) -> list[tuple[str, object]]:
    if isinstance(record.msg, Event):
        return [("event", record.msg.name), *record.msg.fields.items()]
    return [("event", "log"), ("logger", record.name), ("message", record.getMessage())]


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, object]] = [("time", _timestamp(record)), ("level", record.levelname.lower())]
        pairs += _pairs(record)
        if record.exc_info:
            pairs.append(("exception", self.formatException(record.exc_info)))
        return scrub(render(pairs))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": _timestamp(record), "level": record.levelname.lower()}
        for key, item in _pairs(record):
            line[key] = scrub(item) if isinstance(item, str) else item
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else LogfmtFormatter()


def install_scrubbing() -> None:
    """Remove URL secrets from every log record at creation, for every logger and every handler."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not isinstance(record.msg, Event):
            try:
                text = record.getMessage()
            except Exception:
                return record
            scrubbed = scrub(text)
            if scrubbed != text:
                record.msg, record.args = scrubbed, ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
