"""Secrets out of printed text: a URL's userinfo and query string (pre-signed URLs carry tokens)."""

import re
from urllib.parse import urlsplit

_URL_SCHEMES = ("http", "https", "s3")
# Any URL in free text (an exception from a third-party library, a log line): scheme://...
_URL_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#@]*@)?([^\s?#'\"]*)(\?[^\s#'\"]*)?")


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in _URL_SCHEMES


def redact(location: str) -> str:
    """The location as it may be printed: no credentials, no query (pre-signed URLs carry tokens)."""
    if not is_url(location):
        return location
    parts = urlsplit(location)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def scrub(text: str) -> str:
    """`text` with every URL's userinfo and query string removed (for messages we did not write)."""
    return _URL_IN_TEXT.sub(lambda m: f"{m[1]}{m[3]}" + ("?…" if m[4] else ""), text)
