"""Bytes from a local file, an http(s) URL or an s3:// object, counted, gunzipped when gzip.

Every transport also proves, once the last byte is read, that what was read is the whole
source as it was when it was opened (`ByteStream.verify()`): a file rewritten, truncated or
replaced mid-read, or an object changed on the server, is refused rather than loaded as if
it were complete.
"""

import gzip
import io
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from loader_service.config import Settings
from loader_service.errors import SourceChangedError, SourceError
from loader_service.redaction import redact

GZIP_MAGIC = b"\x1f\x8b"


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


Verifier = Callable[[int], None]
"""Called with the bytes read once the source is exhausted; raises `SourceChangedError`."""


@dataclass(frozen=True)
class Opened:
    """What a transport hands over: the raw bytes, their size if known, and the end-of-read check."""

    raw: BinaryIO
    size: int | None
    verify: Verifier


@dataclass
class ByteStream:
    """An open source: its decompressed bytes and what progress needs to know about it."""

    name: str
    stream: BinaryIO
    size: int | None
    """Bytes on the wire or on disk (compressed), when known."""
    _counter: _Counting = field(repr=False)
    _verify: Verifier = field(repr=False)
    gzip: bool = False

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    def verify(self) -> None:
        """Raise `SourceChangedError` unless every byte of the source as opened was read, unchanged."""
        self._verify(self._counter.count)


@contextmanager
def open_bytes(location: str, settings: Settings) -> Iterator[ByteStream]:
    """Open `location` (path or URL) for streaming; raise `SourceError` if it cannot be opened."""
    with ExitStack() as stack:
        scheme = urlsplit(location).scheme
        if scheme in ("http", "https"):
            from loader_service.sources.http import open_url

            opened = stack.enter_context(open_url(location, settings))
        elif scheme == "s3":
            from loader_service.sources.s3 import open_s3

            opened = stack.enter_context(open_s3(location))
        else:
            opened = stack.enter_context(_open_file(Path(location)))
        counter = _Counting(opened.raw)
        buffered = io.BufferedReader(counter, buffer_size=1 << 16)
        try:
            magic = buffered.peek(2)[:2]
        except OSError as error:
            raise SourceError(f"{redact(location)}: cannot read: {error}") from error
        stream: BinaryIO = buffered
        if magic == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        yield ByteStream(redact(location), stream, opened.size, counter, opened.verify, magic == GZIP_MAGIC)


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@contextmanager
def _open_file(path: Path) -> Iterator[Opened]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    with handle:
        at_open = os.fstat(handle.fileno())
        if not stat.S_ISREG(at_open.st_mode):
            # A pipe or a device has no size or identity to compare: nothing to prove.
            yield Opened(handle, None, lambda read: None)
            return

        def verify(read: int) -> None:
            expected = _identity(at_open)
            try:
                now = [_identity(os.fstat(handle.fileno())), _identity(path.stat())]
            except OSError:  # removed after we read it: it is not the file we read any more
                now = []
            problems = []
            if read != at_open.st_size:
                problems.append(f"read {read} bytes of the {at_open.st_size} it had when opened")
            if any(identity != expected for identity in now) or not now:
                problems.append("its size, modification time or inode changed")
            if problems:
                raise SourceChangedError(
                    f"{path}: the source changed while it was read ({'; '.join(problems)}); "
                    "nothing was changed. Run again once the file is complete"
                )

        yield Opened(handle, at_open.st_size, verify)
