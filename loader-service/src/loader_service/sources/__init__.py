"""Where records come from: a local path or an http(s) URL, CSV or JSON Lines, gzip or not.

`open_source()` gives a `RecordSource` whose `records()` streams `(number, values, raw)` in
constant memory; every way reading can fail surfaces as a `SourceError` with a clear message.
"""

from loader_service.redaction import redact
from loader_service.sources.formats import Broken, Record, RecordSource, detect_format, open_source

__all__ = ["Broken", "Record", "RecordSource", "detect_format", "open_source", "redact"]
