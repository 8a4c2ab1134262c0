"""CSV and JSON Lines records, projected onto the declared mapping's fields.

Each record comes out as `(number, values, raw)`: its 1-based number in the source, its values
in `mapping.FIELDS` order (or a `Broken` reason when the record cannot even be split into
fields), and the record as read, for the rejects file. Failures that make the rest of the source
unreadable (encoding, gzip, CSV quoting) raise `SourceError` naming the record they hit.
"""

import codecs
import csv
import gzip
import json
import operator
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from loader_service.choices import FORMATS as FORMATS  # re-exported: defined there for the CLI
from loader_service.choices import Format as Format
from loader_service.config import Settings
from loader_service.errors import SourceError
from loader_service.mapping import KEY_FIELD, SOURCE_NAMES
from loader_service.redaction import redact, remember_url
from loader_service.sources import strict_json
from loader_service.sources.lines import BadEncodingError, Lines, RecordTooLargeError
from loader_service.sources.transport import ByteStream, open_bytes

_BLANK_FACTOR = 1
"""Bytes of blank lines tolerated between two records, in maximum record sizes (1 MiB by default):
each blank line costs a Python iteration, so 1 GiB of them would be ~30 minutes of silent work."""
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class Broken:
    """A record that could not be split into fields; `reason` says why."""

    reason: str


Record = tuple[int, tuple[object, ...] | Broken, object]


def detect_format(location: str) -> Format:
    """The format named by the location's suffix (`people.csv.gz` -> csv)."""
    path = location.split("?", 1)[0].lower()
    if path.endswith(".gz"):
        path = path[:-3]
    for suffix, name in _SUFFIXES.items():
        if path.endswith(suffix):
            return name
    raise SourceError(f"cannot tell the format of {redact(location)} from its name; pass --format csv|jsonl")


class RecordSource:
    """An open source; iterate `records()` once."""

    def __init__(self, stream: ByteStream, format: Format, encoding: str, max_record: int) -> None:
        self.name = stream.name
        self.format = format
        self._bytes = stream
        self._encoding = encoding
        self.ignored_fields: list[str] = []
        self._lines = Lines(stream.stream, encoding, max_record, name=stream.name)
        self._header: list[str] = []
        self._reading = 0
        # Blank lines are no records, but reading them is work: a run of them this long is no export.
        self._max_blank = _BLANK_FACTOR * max_record
        if format == "csv":
            # A field may be as long as a record: an overlong one is then a per-record reject
            # (too long for its column, or for the record), never csv's own abort at 128 KiB.
            # csv's limit is per process; this process is the loader.
            csv.field_size_limit(max(csv.field_size_limit(), max_record))
            self._header = self._read_header()

    @property
    def size(self) -> int | None:
        return self._bytes.size

    @property
    def bytes_read(self) -> int:
        return self._bytes.bytes_read

    @property
    def decompressed(self) -> int | None:
        return self._bytes.decompressed

    def on_read(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each raw read: progress even while no record comes out."""
        self._bytes.on_read(callback)

    def _blank_run(self, since: int) -> None:
        """Refuse a source that gives nothing but blank lines for `_max_blank` bytes after `since`."""
        if self._lines.offset - since > self._max_blank:
            where = "(decompressed) " if self._bytes.gzip else ""
            raise SourceError(
                f"{self.name}: no record in the {self._lines.offset - since:,} {where}bytes after byte "
                f"offset {since:,}, only blank lines; this does not look like an export. Nothing was changed"
            )

    def raw_as_dict(self, raw: object) -> object:
        """A record as read, for the rejects file (CSV rows become header -> value)."""
        if self.format == "csv" and isinstance(raw, list):
            return dict(zip(self._header, raw, strict=False))
        return raw

    def raw_key(self, raw: object) -> object:
        """The natural key's value in a record that could not be split into fields, if it can be told."""
        if self.format == "csv" and isinstance(raw, list):
            position = self._header.index(KEY_FIELD.source)
            return raw[position] if position < len(raw) else None
        if isinstance(raw, dict):
            return raw.get(KEY_FIELD.source)
        return None

    def records(self) -> Iterator[Record]:
        """Every record, then the proof that the whole source as opened was read (else `SourceError`)."""
        reader = self._csv_records() if self.format == "csv" else self._jsonl_records()
        with self._translating_errors():
            yield from reader
            self._bytes.verify()

    def verify(self) -> None:
        """Check again (just before the commit) that the source is still the one that was read."""
        with self._translating_errors():
            self._bytes.verify()

    @property
    def digest(self) -> str:
        """sha256 (hex) of the raw bytes read: the whole source's once `records()` is exhausted."""
        return self._bytes.digest

    @property
    def digest_ahead_offered(self) -> bool:
        """Whether `digest_ahead()` can tell the digest before reading (a local file, not HTTP or S3)."""
        return self._bytes.digest_ahead is not None

    def digest_ahead(self) -> str | None:
        """The whole source's sha256 before reading its records (None: the transport cannot tell
        it without a second transfer); `SourceChangedError` if the source changed since opened."""
        ahead = self._bytes.digest_ahead
        if ahead is None:
            return None
        with self._translating_errors():
            return ahead()

    def _read_header(self) -> list[str]:
        with self._translating_errors():
            try:
                header = next(csv.reader(self._lines), None)
            except RecordTooLargeError as error:
                raise SourceError(f"{self.name}: the header line {error}; is this a CSV file?") from None
        if header is None:
            raise SourceError(f"{self.name}: empty file, expected a CSV header line")
        header = [name.strip() for name in header]
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise SourceError(f"{self.name}: duplicate column(s) in the header: {', '.join(duplicated)}")
        # Every mapped column, optional ones too: an absent column would NULL it for everyone.
        missing = [name for name in SOURCE_NAMES if name not in header]
        if missing:
            shown = ", ".join(name[:64] for name in header[:20]) or "nothing"
            raise SourceError(
                f"{self.name}: missing column(s) {', '.join(missing)} "
                f"(header has: {shown}); every mapped column must be present, "
                "values of optional ones may be empty"
            )
        self.ignored_fields = [name for name in header if name not in SOURCE_NAMES]
        return header

    def _csv_records(self) -> Iterator[Record]:
        header = self._header
        width = len(header)
        project = _projector(header)
        lines = self._lines
        number = 0
        last = lines.offset  # where the last record ended
        while True:
            lines.record_bytes = 0
            # Anew after a skipped record: the lines' iterator that raised is spent (csv.reader
            # starts each row afresh anyway).
            reader = csv.reader(lines, strict=True)
            try:
                for row in reader:
                    lines.record_bytes = 0  # the next record starts here
                    if not row:  # blank line: not a record
                        self._blank_run(last)
                        continue
                    last = lines.offset
                    number += 1
                    self._reading = number
                    if len(row) != width:
                        yield number, Broken(f"has {len(row)} fields, the header has {width}"), row
                    else:
                        yield number, project(row), row
                return
            except RecordTooLargeError as error:
                number += 1
                self._reading = number
                last = lines.offset
                yield number, Broken(f"{error} (at byte offset {error.offset})"), error.prefix

    def _jsonl_records(self) -> Iterator[Record]:
        number = 0
        unseen = set(SOURCE_NAMES)  # declared keys no object has had yet
        lines = self._lines
        loads = strict_json.loads
        last = lines.offset  # where the last record ended
        while True:
            try:
                for line in lines:
                    lines.record_bytes = 0
                    if not line.strip():
                        self._blank_run(last)
                        continue
                    last = lines.offset
                    number += 1
                    self._reading = number
                    try:
                        item = loads(line)
                    except json.JSONDecodeError as error:
                        yield number, Broken(f"is not valid JSON: {error.msg} (column {error.colno})"), line
                        continue
                    except strict_json.StrictJsonError as error:
                        yield number, Broken(str(error)), line
                        continue
                    if not isinstance(item, dict):
                        yield number, Broken(f"is a JSON {type(item).__name__}, not an object"), item
                        continue
                    if unseen:
                        unseen.difference_update(item)
                    yield number, tuple(item.get(name) for name in SOURCE_NAMES), item
                break
            except RecordTooLargeError as error:
                number += 1
                self._reading = number
                last = lines.offset
                yield number, Broken(f"{error} (at byte offset {error.offset})"), error.prefix
        if unseen and number:
            # A key absent from every object is a dropped field upstream, not a run of unknown
            # values: loading it would NULL that column for everyone.
            missing = [name for name in SOURCE_NAMES if name in unseen]
            raise SourceError(
                f"{self.name}: no record has the key(s) {', '.join(missing)}; every mapped key must "
                "appear in at least one record (use null for an unknown value). Nothing was changed."
            )

    @contextmanager
    def _translating_errors(self) -> Iterator[None]:
        try:
            yield
        except BadEncodingError as error:
            where = f"{self.name}: at record {self._reading + 1}, byte offset {error.offset}"
            if self._bytes.gzip:
                where += " (decompressed)"
            raise SourceError(
                f"{where}: not valid {codecs.lookup(self._encoding).name} text "
                f"({error.reason}, byte 0x{error.byte.hex()}); "
                "set LOADER_ENCODING if the file uses another encoding"
            ) from None
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            where = f"{self.name}: at record {self._reading + 1}"
            coding = self._bytes.compression or "gzip"
            raise SourceError(
                f"{where}: broken or truncated {coding} data ({error}); nothing was changed"
            ) from None
        except csv.Error as error:
            where = f"{self.name}: at record {self._reading + 1}"
            raise SourceError(f"{where}: malformed CSV ({error})") from None
        except SourceError:
            raise
        except OSError as error:
            where = f"{self.name}: at record {self._reading + 1}"
            raise SourceError(f"{where}: read failed: {error}") from None


def _projector(header: list[str]) -> Callable[[list[str]], tuple[object, ...]]:
    """Pick the declared fields out of a CSV row, in declared order (the header has them all)."""
    # At C speed: a row is a list, itemgetter returns a tuple.
    return operator.itemgetter(*(header.index(name) for name in SOURCE_NAMES))


@contextmanager
def open_source(location: str, settings: Settings, format: Format | None = None) -> Iterator[RecordSource]:
    """Open `location` and read its header; the caller iterates `records()` inside the block."""
    remember_url(location)  # its password and signed query are masked in every output from here on
    chosen = format or detect_format(location)
    with open_bytes(location, settings) as stream:
        yield RecordSource(stream, chosen, settings.encoding, settings.max_record_bytes)
