"""Bytes from a local file, an http(s) URL or an s3:// object, counted, decoded, bounded.

Every transport also proves, once the last byte is read, that what was read is the whole
source as it was when it was opened (`ByteStream.verify()`): a file rewritten, truncated or
replaced mid-read, or an object changed on the server, is refused rather than loaded as if
it were complete. Every compressed layer (an HTTP `Content-Encoding`, a gzip file) must end
with its own trailer (gzip: CRC and length; deflate: its end-of-stream block and Adler-32),
and may not expand past `LOADER_MAX_EXPANSION` times the bytes it came from (past its first MiB).
"""

import gzip
import hashlib
import io
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import unquote, urlsplit

from loader_service.config import Settings
from loader_service.errors import SourceChangedError, SourceError
from loader_service.redaction import redact
from loader_service.sources.opened import Opened, Verifier

GZIP_MAGIC = b"\x1f\x8b"
SCHEMES = ("http", "https", "s3", "file")
_EXPANSION_FLOOR = 1 << 20
"""Decompressed bytes always allowed, whatever the ratio: a small file may compress very well."""


class _Counting(io.RawIOBase):
    """Counts and hashes the raw bytes that pass (what `size` measures); tells `on_read` after each read.

    The hash (sha256, ~0.5 ms per MB) identifies the source a load read, for the next run's
    unchanged-source check (`unchanged.py`).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0
        self.hash = hashlib.sha256()
        self.on_read: Callable[[], None] = lambda: None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        self.hash.update(data)
        self.on_read()
        return size


class _Inflating(io.RawIOBase):
    """`Content-Encoding: deflate` (zlib, or raw deflate as some servers send), ended by its own end."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._zlib: zlib._Decompress | None = None
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        while not self._pending:
            if self._zlib is not None and self._zlib.eof:
                return 0
            data = self._zlib.unconsumed_tail if self._zlib is not None else b""
            if not data:
                data = self._raw.read(1 << 16)
                if not data:
                    raise EOFError("deflate data ended before its end-of-stream marker")
            if self._zlib is None:
                # zlib-wrapped as the RFC says (a valid 2-byte header), or raw deflate as some servers send.
                wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            self._pending = self._zlib.decompress(data, 1 << 16)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _Bounded(io.RawIOBase):
    """Decompressed bytes, refused past `ratio` times the raw bytes read (or past `limit` in all)."""

    def __init__(self, decoded: BinaryIO, raw: _Counting, ratio: int, limit: int | None, name: str) -> None:
        self._decoded, self._raw = decoded, raw
        self._ratio, self._limit, self._name = ratio, limit, name
        self.count = 0
        self.on_read: Callable[[], None] = lambda: None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        data = self._decoded.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        self.on_read()
        if self.count > _EXPANSION_FLOOR and self.count > self._ratio * self._raw.count:
            raise SourceError(
                f"{self._name}: compressed data expands more than {self._ratio}x "
                f"({self.count:,} bytes from {self._raw.count:,}; LOADER_MAX_EXPANSION): "
                "a decompression bomb or not an export; refused, nothing was changed"
            )
        if self._limit is not None and self.count > self._limit:
            raise SourceError(
                f"{self._name}: more than {self._limit:,} bytes once decompressed "
                "(LOADER_MAX_DECOMPRESSED_BYTES); refused, nothing was changed"
            )
        return size


@dataclass
class ByteStream:
    """An open source: its decoded bytes and what progress needs to know about it."""

    name: str
    stream: BinaryIO
    size: int | None
    """Raw bytes on the wire or on disk (compressed), when known."""
    _counter: _Counting = field(repr=False)
    _verify: Verifier = field(repr=False)
    gzip: bool = False
    """Whether any layer was decompressed (errors then name offsets "decompressed")."""
    _decoded: _Bounded | None = field(default=None, repr=False)
    compression: str = ""
    """What was decompressed, for messages: `gzip`, `deflate` or `gzip+deflate` (empty: nothing)."""
    _digest_ahead: Callable[[], str] | None = field(default=None, repr=False)

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    @property
    def decompressed(self) -> int | None:
        """Bytes after decompression, when the source was compressed."""
        return self._decoded.count if self._decoded is not None else None

    def on_read(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every read, raw or decompressed (progress while no record comes out)."""
        self._counter.on_read = callback
        if self._decoded is not None:
            self._decoded.on_read = callback

    def verify(self) -> None:
        """Raise `SourceChangedError` unless every byte of the source as opened was read, unchanged."""
        self._verify(self._counter.count)

    @property
    def digest(self) -> str:
        """sha256 (hex) of the raw bytes read so far: of the whole source once `verify()` passed."""
        return self._counter.hash.hexdigest()

    @property
    def digest_ahead(self) -> Callable[[], str] | None:
        """The whole source's sha256 without reading it through this stream (None: not offered)."""
        return self._digest_ahead


def _gunzip(stream: BinaryIO) -> BinaryIO:
    return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]


def _decoder(coding: str, name: str) -> Callable[[BinaryIO], BinaryIO]:
    if coding in ("gzip", "x-gzip"):
        return _gunzip
    if coding == "deflate":
        return lambda stream: cast(BinaryIO, io.BufferedReader(_Inflating(stream), 1 << 16))
    raise SourceError(
        f"{name}: the server sent Content-Encoding {coding!r}, which the loader does not decode "
        "(gzip, deflate); refused"
    )


@contextmanager
def open_bytes(location: str, settings: Settings) -> Iterator[ByteStream]:
    """Open `location` (path or URL) for streaming; raise `SourceError` if it cannot be opened."""
    name = redact(location)
    with ExitStack() as stack:
        scheme = urlsplit(location).scheme.lower() if "://" in location else ""
        if scheme in ("http", "https"):
            from loader_service.sources.http import open_url

            opened = stack.enter_context(open_url(location, settings))
        elif scheme == "s3":
            from loader_service.sources.s3 import open_s3

            opened = stack.enter_context(open_s3(location))
        elif scheme == "file":
            opened = stack.enter_context(_open_file(_file_url_path(location)))
        elif scheme:
            raise SourceError(
                f"{name}: unsupported scheme {scheme}://; a source is a path, an http(s):// or s3:// URL"
            )
        else:
            opened = stack.enter_context(_open_file(Path(location)))
        counter = _Counting(opened.raw)
        stream = cast(BinaryIO, io.BufferedReader(counter, buffer_size=1 << 16))
        codings = [coding for coding in reversed(opened.encodings) if coding != "identity"]
        layers = [_decoder(coding, name) for coding in codings]
        for decode in layers:
            stream = decode(stream)
        # peek() needs a BufferedReader; a decoder's output is given one.
        peekable = (
            stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(Any, stream), 1 << 16)
        )
        try:
            magic = peekable.peek(2)[:2]
        except (OSError, EOFError, zlib.error) as error:
            raise SourceError(f"{name}: cannot read: broken or truncated compressed data ({error})") from None
        stream = cast(BinaryIO, peekable)
        if magic == GZIP_MAGIC:  # a .gz file, whatever its name (or gzip inside a Content-Encoding)
            stream = _gunzip(stream)
            layers.append(_gunzip)
            codings.append("gzip")
        bounded = None
        if layers:
            bounded = _Bounded(stream, counter, settings.max_expansion, settings.max_decompressed_bytes, name)
            stream = cast(BinaryIO, io.BufferedReader(bounded, 1 << 16))
        compression = "+".join(sorted({"gzip" if coding == "x-gzip" else coding for coding in codings}))
        yield ByteStream(
            name,
            stream,
            opened.size,
            counter,
            opened.verify,
            bool(layers),
            bounded,
            compression,
            opened.digest_ahead,
        )


def _file_url_path(location: str) -> Path:
    """`file:///data/people.csv` -> `/data/people.csv` (a file on this machine only)."""
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(f"{redact(location)}: a file:// URL names a file on this machine (file:///path)")
    return Path(unquote(parts.path))


def _identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    # ctime: any write, and the `touch`/`utime` that would set the mtime back, moves it; nobody sets it.
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


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
    except OSError as error:
        raise SourceError(f"{path}: cannot open: {error.strerror or error}") from None
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
                problems.append("its size, modification or change time, or inode changed")
            if problems:
                raise SourceChangedError(
                    f"{path}: the source changed while it was read ({'; '.join(problems)}); "
                    "nothing was changed. Run again once the file is complete"
                )

        def digest_ahead() -> str:
            # By offset (pread): the stream's own position, and what it has buffered, stay as they are.
            digest, offset, descriptor = hashlib.sha256(), 0, handle.fileno()
            while block := os.pread(descriptor, 1 << 20, offset):
                digest.update(block)
                offset += len(block)
            verify(offset)  # the whole file as opened, unchanged: else SourceChangedError
            return digest.hexdigest()

        yield Opened(handle, at_open.st_size, verify, digest_ahead=digest_ahead)
