"""What a transport (file, http(s), s3) hands to the reader: raw bytes, their size, the end-of-read proof.

A module of its own so the transports and the dispatcher (`transport.py`) both import it and
never each other.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

Verifier = Callable[[int], None]
"""Called with the raw bytes read once the source is exhausted (and again before the commit);
raises `SourceChangedError` unless they are the whole source as it was when opened."""


@dataclass(frozen=True)
class Opened:
    """The raw bytes of one source as the transport delivers them, before any decoding."""

    raw: BinaryIO
    size: int | None
    """Raw bytes the transport announced (file size, Content-Length), when known."""
    verify: Verifier
    encodings: tuple[str, ...] = ()
    """Content codings applied to `raw`, in the order they were applied (HTTP `Content-Encoding`)."""
    digest_ahead: Callable[[], str] | None = None
    """The sha256 of the whole source, computed without consuming `raw` (a local file: read again
    by offset), raising `SourceChangedError` if it changed meanwhile; None where that would cost
    a second transfer (HTTP, S3)."""
