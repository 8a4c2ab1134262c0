"""Whole-source proof, one test per transport x encoding x way a source can end early or lie.

Transports: a local file, http(s) (a real server on 127.0.0.1 whose framing each case picks),
S3 (botocore against the same server speaking S3's GET/HEAD object, path style). Encodings: plain,
a gzip file, and on HTTP `Content-Encoding: gzip` and `deflate`. Every hostile case must be
refused with one line and leave the previous data byte for byte; every `whole` case must load
(so a harness that refuses everything cannot pass).
"""

import csv
import gzip
import http.server
import io
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import HEADER, fingerprint, person_rows, write_csv
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.errors import SourceError
from loader_service.logs import Event
from loader_service.report import LogProgress
from loader_service.run import RunOptions, run_load

ROWS = 2000  # ~170 KB of CSV: a cut in half leaves a thousand plausible records
BUCKET = "exports"


@dataclass
class Served:
    """What the server answers for one path: the body on the wire and how it is framed."""

    body: bytes
    framing: str = "length"
    """length | short (announces all, sends half) | close (HTTP/1.0, no length) | close-cut | chunked-cut"""
    headers: dict[str, str] = field(default_factory=dict)
    changed_headers: dict[str, str] = field(default_factory=dict)
    """Headers a HEAD (the check at the end) sees instead: the object was replaced meanwhile."""
    status: int = 200
    hits: int = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Served]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _route(self) -> Served | None:
        served = self.routes.get(self.path.split("?", 1)[0])
        if served is None:
            self.send_error(404)
        return served

    def do_HEAD(self) -> None:
        served = self._route()
        if served is None:
            return
        self.send_response(200)
        for name, value in {**served.headers, **served.changed_headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(served.body)))
        self.end_headers()

    def do_GET(self) -> None:
        served = self._route()
        if served is None:
            return
        served.hits += 1
        body, framing = served.body, served.framing
        if framing == "chunked-cut":
            self.protocol_version = "HTTP/1.1"
        self.send_response(served.status)
        for name, value in served.headers.items():
            self.send_header(name, value)
        if framing in ("length", "short"):
            self.send_header("Content-Length", str(len(body)))
        if framing == "chunked-cut":
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        half = body[: len(body) // 2]
        if framing == "chunked-cut":  # chunks, then the connection closes without the last (empty) one
            self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
        else:
            self.wfile.write(half if framing in ("short", "close-cut") else body)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, Served]]]:
    routes: dict[str, Served] = {}
    handler = type("H", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass(frozen=True)
class Encoding:
    suffix: str
    encode: Callable[[bytes], bytes]
    content_encoding: str | None = None


def _stored_gzip(data: bytes) -> bytes:
    # Level 0: the size depends on the length only, so a same-size rewrite is possible.
    return gzip.compress(data, compresslevel=0, mtime=0)


ENCODINGS = {
    "plain": Encoding(".csv", lambda data: data),
    "gzip-file": Encoding(".csv.gz", lambda data: gzip.compress(data, mtime=0)),
    "stored-gzip-file": Encoding(".csv.gz", _stored_gzip),
    "content-encoding-gzip": Encoding(".csv", lambda data: gzip.compress(data, mtime=0), "gzip"),
    "content-encoding-deflate": Encoding(".csv", zlib.compress, "deflate"),
}
COMPRESSED = [name for name, encoding in ENCODINGS.items() if name != "plain"]

# What each way of ending early or lying must be refused with (a piece of its one line).
REFUSED_WITH = {
    "no-trailer": "truncated",
    "cut-in-compressed-data": "truncated",
    "short-body": "connection lost while reading",
    "close-delimited": "neither a Content-Length nor chunked framing",
    "close-delimited-cut": "neither a Content-Length nor chunked framing",
    "chunked-cut": "connection lost while reading",
    "replaced": "changed while it was read",
    "version-replaced": "changed while it was read",
    "rewritten-mtime-set-back": "changed while it was read",
}


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for encoding in ENCODINGS:
        compressed = encoding != "plain"
        if ENCODINGS[encoding].content_encoding is None:  # a file has no Content-Encoding
            cases.append(("file", encoding, "whole"))
            cases.append(("file", encoding, "rewritten-mtime-set-back"))
            cases += [
                ("file", encoding, way) for way in ("no-trailer", "cut-in-compressed-data") if compressed
            ]
        cases.append(("http", encoding, "whole"))
        http_ways = ["short-body", "close-delimited", "close-delimited-cut", "chunked-cut", "replaced"]
        cases += [("http", encoding, way) for way in http_ways]
        cases += [("http", encoding, way) for way in ("no-trailer", "cut-in-compressed-data") if compressed]
        if ENCODINGS[encoding].content_encoding is None:  # S3 hands the object's bytes over as stored
            cases.append(("s3", encoding, "whole"))
            cases += [("s3", encoding, way) for way in ("short-body", "replaced", "version-replaced")]
            cases += [("s3", encoding, way) for way in ("no-trailer", "cut-in-compressed-data") if compressed]
    return cases


def _source_bytes(variant: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(person_rows(ROWS, variant=variant))
    return buffer.getvalue().encode()


def _on_the_wire(encoding: Encoding, way: str) -> bytes:
    body = encoding.encode(_source_bytes("-new"))
    if way == "no-trailer":
        return body[:-8] if encoding.content_encoding != "deflate" else body[:-4]  # CRC+length / Adler-32
    if way == "cut-in-compressed-data":
        return body[: len(body) // 2]
    return body


class _Meddling(LogProgress):
    """Calls `meddle` once, after the first batch of records was read."""

    def __init__(self, meddle: Callable[[], None]) -> None:
        super().__init__(3600)
        self._meddle, self.done = meddle, False

    def update(self, records: int) -> None:
        super().update(records)
        if records and not self.done:
            self.done = True
            self._meddle()


@pytest.fixture
def s3_environment(server: tuple[str, dict[str, Served]], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL_S3": server[0],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _file_source(tmp_path: Path, encoding: Encoding, way: str) -> tuple[str, _Meddling | None]:
    path = tmp_path / f"people{encoding.suffix}"
    path.write_bytes(_on_the_wire(encoding, way))
    if way != "rewritten-mtime-set-back":
        return str(path), None
    # Another export of the same length ("-xyz" for "-new"), written over it at the same size.
    other = encoding.encode(_source_bytes("-xyz"))

    def rewrite() -> None:
        before = path.stat()
        with path.open("r+b") as handle:  # in place: same inode
            handle.write(other[: before.st_size].ljust(before.st_size, b"\n"))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime set back

    return str(path), _Meddling(rewrite)


def _remote_source(
    transport: str, base: str, routes: dict[str, Served], encoding: Encoding, way: str, case: str
) -> str:
    headers = {"ETag": '"v1"', "x-amz-version-id": "version-1"} if transport == "s3" else {"ETag": '"v1"'}
    if encoding.content_encoding:
        headers["Content-Encoding"] = encoding.content_encoding
    changed = {}
    if way == "replaced":
        changed = {"ETag": '"v2"'}
    elif way == "version-replaced":  # the same bytes put again: a new version, the same ETag
        changed = {"x-amz-version-id": "version-2"}
    framing = {"short-body": "short", "close-delimited": "close", "close-delimited-cut": "close-cut"}.get(
        way, way
    )
    framing = framing if framing in ("short", "close", "close-cut", "chunked-cut") else "length"
    key = f"{case}{encoding.suffix}"
    path = f"/{BUCKET}/{key}" if transport == "s3" else f"/{key}"
    routes[path] = Served(_on_the_wire(encoding, way), framing, headers, changed)
    return f"s3://{BUCKET}/{key}" if transport == "s3" else f"{base}{path}"


@pytest.mark.parametrize(("transport", "encoding", "way"), _cases())
def test_a_source_is_loaded_only_when_read_whole_and_unchanged(
    settings: Settings,
    migrated_engine: Engine,
    tmp_path: Path,
    server: tuple[str, dict[str, Served]],
    s3_environment: None,
    transport: str,
    encoding: str,
    way: str,
) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "before.csv", person_rows(ROWS)))))
    before = fingerprint(migrated_engine)
    chosen = ENCODINGS[encoding]
    progress = None
    if transport == "file":
        source, progress = _file_source(tmp_path, chosen, way)
    else:
        base, routes = server
        source = _remote_source(transport, base, routes, chosen, way, f"{transport}-{encoding}-{way}")
    options = RunOptions(source, format="csv", rejects=tmp_path / "rejects.jsonl")
    small_batches = settings.model_copy(update={"batch_size": 100})

    if way == "whole":
        summary = run_load(small_batches, options, progress)
        assert (summary.read, summary.updated, summary.rejected) == (ROWS, ROWS, 0)
        return
    with pytest.raises(SourceError) as refused:
        run_load(small_batches, options, progress)

    message = str(refused.value)
    # A compressed file rewritten mid-read may fail its CRC before the identity check sees it.
    reasons = [REFUSED_WITH[way], *(["broken or truncated"] if way.startswith("rewritten") else [])]
    assert any(reason in message for reason in reasons), message
    assert "\n" not in message
    assert progress is None or progress.done
    assert fingerprint(migrated_engine) == before


@pytest.mark.parametrize("encoding", COMPRESSED)
def test_an_operator_who_accepts_unframed_bodies_still_gets_compressed_ones_checked(
    settings: Settings,
    migrated_engine: Engine,
    tmp_path: Path,
    server: tuple[str, dict[str, Served]],
    encoding: str,
) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "before.csv", person_rows(ROWS)))))
    before = fingerprint(migrated_engine)
    base, routes = server
    trusting = settings.model_copy(update={"http_allow_unframed": True})
    chosen = ENCODINGS[encoding]
    whole = _remote_source("http", base, routes, chosen, "close-delimited", f"optin-whole-{encoding}")
    cut = _remote_source("http", base, routes, chosen, "close-delimited-cut", f"optin-cut-{encoding}")

    with pytest.raises(SourceError, match="truncated"):
        run_load(trusting, RunOptions(cut, format="csv"))
    assert fingerprint(migrated_engine) == before

    assert run_load(trusting, RunOptions(whole, format="csv")).updated == ROWS


# Bounded work: a decompression bomb stops within a bounded number of bytes, with one line.


def _bomb(path: Path, line: bytes, size: int = 1 << 30) -> Path:
    """A CSV header, then `size` bytes of `line` again and again, gzipped (about 1 MB for 1 GiB).

    Sixteen gzip members of 64 MiB each (a valid gzip file: members concatenate), so making it
    costs one 64 MiB compression.
    """
    member = gzip.compress(line * ((64 << 20) // len(line)), compresslevel=9, mtime=0)
    with path.open("wb") as out:
        out.write(gzip.compress(",".join(HEADER).encode() + b"\n", mtime=0))
        for _ in range(size // (64 << 20)):
            out.write(member)
    return path


BOMBS = {
    # Blank lines are no records: the blank-run bound or the expansion bound stops it, first wins.
    "blank lines": (b"\n", "(expands more than 100x|no record in the 1,048,577 \\(decompressed\\) bytes)"),
    "one record again and again": (b"p-1,Ada,Lovelace,ada@example.com,o-1,Org\n", "expands more than 100x"),
}


@pytest.fixture(scope="module", params=list(BOMBS))
def bomb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    line, refusal = BOMBS[request.param]
    return _bomb(tmp_path_factory.mktemp("bomb") / "bomb.csv.gz", line), refusal


@pytest.mark.parametrize("transport", ["file", "http-gzip-file", "http-content-encoding-gzip"])
def test_a_decompression_bomb_stops_early_with_one_line(
    settings: Settings,
    migrated_engine: Engine,
    bomb: tuple[Path, str],
    server: tuple[str, dict[str, Served]],
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, refusal = bomb
    assert path.stat().st_size < 4 << 20  # 1 to 3 MB that expand to 1 GiB
    base, routes = server
    source = str(path)
    if transport != "file":
        headers = {"Content-Encoding": "gzip"} if transport == "http-content-encoding-gzip" else {}
        name = f"bomb-{len(refusal)}.csv" + ("" if headers else ".gz")
        routes[f"/{name}"] = Served(path.read_bytes(), headers=headers)
        source = f"{base}/{name}"
    tolerant = settings.model_copy(update={"progress_interval": 1e-6, "max_errors": 10**9})

    with caplog.at_level("INFO"), pytest.raises(SourceError) as refused:
        run_load(tolerant, RunOptions(source, format="csv", rejects=path.with_suffix(".rejects")))

    message = str(refused.value)
    assert re.search(refusal, message), message
    assert "\n" not in message
    # Progress while it ran: bytes read and decompressed, records counted.
    progress = [r.msg.fields for r in caplog.records if isinstance(r.msg, Event) and r.msg.name == "progress"]
    assert progress
    assert {"records", "bytes", "decompressed_bytes"} <= set(progress[-1])
    assert int(str(progress[-1]["decompressed_bytes"])) < 64 << 20  # stopped within 64 MiB of the 1 GiB


def test_a_size_limit_on_decompressed_bytes_is_a_setting(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "people.csv.gz"
    source.write_bytes(gzip.compress(_source_bytes("")))
    limited = settings.model_copy(update={"max_decompressed_bytes": 50_000})

    with pytest.raises(
        SourceError, match=r"more than 50,000 bytes once decompressed \(LOADER_MAX_DECOMPRESSED_BYTES\)"
    ):
        run_load(limited, RunOptions(str(source)))


@pytest.mark.parametrize("compressed", [False, True])
def test_a_run_of_blank_lines_is_refused_once_it_is_longer_than_any_record_could_explain(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, compressed: bool
) -> None:
    head = _source_bytes("")
    data = head[: head.index(b"\n", 2000) + 1] + b"\n" * (4 << 10) + b"p-1,Ada,L,ada@example.com,o,O\n"
    source = tmp_path / ("blank.csv.gz" if compressed else "blank.csv")
    source.write_bytes(gzip.compress(data) if compressed else data)
    small = settings.model_copy(update={"max_record_bytes": 1024})

    with pytest.raises(
        SourceError, match=r"no record in the 1,0\d\d (\(decompressed\) )?bytes after byte offset"
    ):
        run_load(small, RunOptions(str(source), rejects=tmp_path / "r.jsonl"))


# No retries for what cannot go away; retries for what may.


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (501, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_only_errors_that_may_go_away_are_retried(
    settings: Settings, server: tuple[str, dict[str, Served]], status: int, retried: bool
) -> None:
    base, routes = server
    routes[f"/status-{status}.csv"] = served = Served(b"", status=status)

    with pytest.raises(SourceError, match=f"HTTP {status}"):
        run_load(settings, RunOptions(f"{base}/status-{status}.csv"))

    assert served.hits == (settings.http_retries + 1 if retried else 1)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.csv", "gopher://127.0.0.1/x"])
def test_a_redirect_to_an_unsupported_scheme_is_refused_at_once(
    settings: Settings, server: tuple[str, dict[str, Served]], target: str
) -> None:
    base, routes = server
    routes["/moved.csv"] = served = Served(b"", status=302, headers={"Location": target})

    with pytest.raises(
        SourceError, match=r"unsupported protocol.*only http:// and https:// are read \(not retried\)"
    ):
        run_load(settings, RunOptions(f"{base}/moved.csv"))

    assert served.hits == 1


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/people.csv", "gopher://x/people.csv", "File:///tmp/x.csv.gz"]
)
def test_an_unsupported_scheme_is_one_line(settings: Settings, location: str) -> None:
    expected = "no such file" if location.lower().startswith("file:") else "unsupported scheme"
    with pytest.raises(SourceError, match=expected):
        run_load(settings, RunOptions(location))


def test_a_file_url_is_a_local_file(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "people.csv", person_rows(5))

    assert run_load(settings, RunOptions(f"file://{source}")).inserted == 5


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_a_content_encoding_the_loader_cannot_check_is_refused_before_reading(
    settings: Settings, server: tuple[str, dict[str, Served]], coding: str
) -> None:
    base, routes = server
    path = f"/coded-{len(coding)}-{coding[-2:]}.csv"
    routes[path] = Served(b"\x00" * 100, headers={"Content-Encoding": coding})

    with pytest.raises(SourceError, match=r"Content-Encoding '\w+', which the loader does not decode"):
        run_load(settings, RunOptions(f"{base}{path}"))


def test_raw_deflate_as_some_servers_send_it_loads_and_must_end_too(
    settings: Settings, migrated_engine: Engine, server: tuple[str, dict[str, Served]]
) -> None:
    base, routes = server
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = compressor.compress(_source_bytes("")) + compressor.flush()
    routes["/raw-deflate.csv"] = Served(raw, headers={"Content-Encoding": "deflate"})
    routes["/raw-deflate-cut.csv"] = Served(raw[: len(raw) // 2], headers={"Content-Encoding": "deflate"})

    assert run_load(settings, RunOptions(f"{base}/raw-deflate.csv")).inserted == ROWS
    with pytest.raises(SourceError, match="deflate data ended before its end-of-stream marker"):
        run_load(settings, RunOptions(f"{base}/raw-deflate-cut.csv"))
