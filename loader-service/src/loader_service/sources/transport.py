"""Bytes from a local file or an http(s) URL, counted for progress, gunzipped when gzip."""

import gzip
import io
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from loader_service.config import Settings
from loader_service.errors import SourceError

GZIP_MAGIC = b"\x1f\x8b"


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def redact(location: str) -> str:
    """The location as it may be printed: no credentials, no query (pre-signed URLs carry tokens)."""
    if not is_url(location):
        return location
    parts = urlsplit(location)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


class _Counting(io.RawIOBase):
    """Counts the bytes that pass, before decompression: that is what `size` measures."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


@dataclass
class ByteStream:
    """An open source: its decompressed bytes and what progress needs to know about it."""

    name: str
    stream: BinaryIO
    size: int | None
    """Bytes on the wire or on disk (compressed), when known."""
    _counter: _Counting = field(repr=False)

    @property
    def bytes_read(self) -> int:
        return self._counter.count


@contextmanager
def open_bytes(location: str, settings: Settings) -> Iterator[ByteStream]:
    """Open `location` (path or URL) for streaming; raise `SourceError` if it cannot be opened."""
    with ExitStack() as stack:
        if is_url(location):
            from loader_service.sources.http import open_url

            raw, size = stack.enter_context(open_url(location, settings))
        else:
            raw, size = stack.enter_context(_open_file(Path(location)))
        counter = _Counting(raw)
        buffered = io.BufferedReader(counter, buffer_size=1 << 16)
        try:
            magic = buffered.peek(2)[:2]
        except OSError as error:
            raise SourceError(f"{redact(location)}: cannot read: {error}") from error
        stream: BinaryIO = buffered
        if magic == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        yield ByteStream(redact(location), stream, size, counter)


@contextmanager
def _open_file(path: Path) -> Iterator[tuple[BinaryIO, int | None]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    with handle:
        yield handle, path.stat().st_size
