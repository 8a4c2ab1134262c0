"""Decoded lines of a byte stream, in bounded memory, each one's byte offset known.

Decoding line by line (rather than through a read-ahead `TextIOWrapper`) is what lets an
encoding error name the record that holds the bad byte and its offset, and lets a line longer
than the maximum record size be skipped (a per-record reject) or refused (no line end in
sight: `/dev/zero`) without ever holding more than one record in memory.
"""

import codecs
from typing import BinaryIO

from loader_service.errors import SourceError

_SCAN_FACTOR = 16
"""How far past the maximum record size we look for the end of an oversized line before giving up."""
_PREFIX = 80
"""Bytes of an oversized record kept for the rejects file."""


class RecordTooLargeError(Exception):
    """A record longer than the maximum record size, skipped up to its line end."""

    def __init__(self, offset: int, limit: int, prefix: bytes) -> None:
        super().__init__(f"is longer than the maximum record size ({limit:,} bytes)")
        self.offset = offset
        self.prefix = prefix.decode("utf-8", "replace") + "…"


class BadEncodingError(Exception):
    """A byte the source's encoding cannot decode, at `offset` of the (decompressed) stream."""

    def __init__(self, offset: int, byte: bytes, reason: str) -> None:
        super().__init__(reason)
        self.offset, self.byte, self.reason = offset, byte, reason


class Lines:
    """Decoded lines (with their newline); raises `RecordTooLargeError` and goes on after it."""

    def __init__(self, stream: BinaryIO, encoding: str, max_record: int, *, name: str) -> None:
        try:
            compatible = "x\n".encode(encoding).endswith(b"x\n")
        except LookupError:
            raise SourceError(f"LOADER_ENCODING={encoding}: no such encoding") from None
        if not compatible:  # UTF-16 and the like: a byte 0x0A is not always a line end
            raise SourceError(
                f"LOADER_ENCODING={encoding} is not ASCII-compatible; use utf-8, latin-1, cp1252, ..."
            )
        self._readline = stream.readline
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._decode = self._decoder.decode
        self._max = max_record
        self._name = name
        self.offset = 0
        """Bytes consumed so far (of the decompressed stream)."""
        self.record_bytes = 0
        """Bytes of the record being read; the reader resets it at each record's start."""

    def __iter__(self) -> "Lines":
        return self

    def __next__(self) -> str:
        raw = self._readline(self._max + 1)
        if not raw:
            tail = self._decode_at(b"", final=True)
            if tail:  # pragma: no cover - an ASCII-compatible decoder holds nothing back at a line end
                return tail
            raise StopIteration
        size = len(raw)
        self.record_bytes += size
        if self.record_bytes > self._max:
            start = self.offset - (self.record_bytes - size)
            self.offset += size
            if not raw.endswith(b"\n"):
                self._skip_line(start)
            self.record_bytes = 0
            self._decoder.reset()
            raise RecordTooLargeError(start, self._max, raw[:_PREFIX])
        try:
            text = self._decode(raw)
        except UnicodeDecodeError as error:
            raise BadEncodingError(
                self.offset + error.start, raw[error.start : error.start + 1], error.reason
            ) from None
        self.offset += size
        return text

    def _decode_at(self, raw: bytes, final: bool = False) -> str:
        try:
            return self._decode(raw, final)
        except UnicodeDecodeError as error:
            raise BadEncodingError(
                self.offset + error.start, raw[error.start : error.start + 1], error.reason
            ) from None

    def _skip_line(self, start: int) -> None:
        """Read on to the end of the current line; refuse when it does not end within a bounded scan."""
        scanned = self.offset - start
        while True:
            chunk = self._readline(1 << 16)
            self.offset += len(chunk)
            scanned += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return
            if scanned > _SCAN_FACTOR * self._max:
                raise SourceError(
                    f"{self._name}: at byte offset {start}: no line end within {scanned:,} bytes "
                    f"(maximum record size {self._max:,} bytes, LOADER_MAX_RECORD_BYTES); "
                    "this does not look like CSV or JSON Lines. Nothing was changed"
                )
