"""Fixtures: a migrated real PostgreSQL (emptied before each test), settings, files, an HTTP server."""

import csv
import gzip
import http.server
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from loader_service.config import Settings

pytest_plugins = ["orm_models.testing.fixtures"]

HEADER = ["id", "givenName", "familyName", "email", "org", "orgName"]
Row = dict[str, Any]


@pytest.fixture(autouse=True)
def _loader_logger_restored() -> Iterator[None]:
    """Each test ends with the loader's logger as it found it: a level or handler one test set must
    not decide what the next one captures (the suites run on several workers, in any order).
    pytest's own capture handlers live on the root logger, which its logging plugin restores."""
    logger = logging.getLogger("loader_service")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.fixture
def database_url(migrated_url: str, migrated_engine: Engine) -> str:
    """The migrated database, emptied: the loader commits, so rollback isolation cannot apply."""
    with migrated_engine.begin() as connection:
        connection.execute(text("TRUNCATE person, organization RESTART IDENTITY"))
        # The loader's record of the last sync (unchanged.py): each test starts without one.
        connection.execute(text("DROP SCHEMA IF EXISTS loader_service CASCADE"))
    return migrated_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=SecretStr(database_url), http_retries=2, http_retry_wait=0, http_timeout=5)


def person_rows(count: int, *, start: int = 0, variant: str = "", orgs: int = 3) -> list[Row]:
    return [
        {
            "id": f"p-{number:05d}",
            "givenName": f"Given{number}",
            "familyName": f"Family{number}{variant}",
            "email": f"person{number}@example.com",
            "org": f"org-{number % orgs}",
            "orgName": f"Organization {number % orgs}",
        }
        for number in range(start, start + count)
    ]


def write_csv(path: Path, rows: list[Row], header: list[str] = HEADER) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Row]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def people(engine: Engine) -> dict[str, dict[str, Any]]:
    """external_id -> the person's row as stored (with its organization's key)."""
    with engine.connect() as connection:
        result = connection.execute(
            text(
                """
                SELECT p.id, p.external_id, p.given_name, p.family_name, p.email, o.external_id AS org,
                       p.updated_at
                FROM person AS p LEFT JOIN organization AS o ON o.id = p.organization_id
                """
            )
        )
        return {row.external_id: dict(row._mapping) for row in result}


def fingerprint(engine: Engine) -> tuple[int, str]:
    """Row count and a digest of every person's values: equal iff the dataset is the same."""
    with engine.connect() as connection:
        row = connection.execute(
            text(
                """
                SELECT count(*), coalesce(md5(string_agg(concat_ws('|', id, external_id, given_name,
                       family_name, email, organization_id), ',' ORDER BY external_id)), '')
                FROM person
                """
            )
        ).one()
    return int(row[0]), str(row[1])


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the test's directory, plus /status/<code> and /flaky/<n>/<file> (fails n times first),
    /changing/<file> (its ETag differs between GET and HEAD: changed while read), /cut/<file>
    (announces the whole length, sends half) and /chunked-cut/<file> (no last chunk)."""

    hits: dict[str, int]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        if self.path.startswith("/changing/"):
            self.send_header("ETag", '"v1"' if self.command == "GET" else '"v2"')
        super().end_headers()

    def do_HEAD(self) -> None:
        if self.path.startswith("/changing/"):
            self.send_response(200)
            self.end_headers()
            return
        super().do_HEAD()

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        parts = self.path.strip("/").split("?")[0].split("/")
        if parts[0] == "status":
            self.send_error(int(parts[1]))
            return
        if parts[0] == "changing":
            body = (Path(self.directory) / parts[1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if parts[0] == "chunked-cut":  # HTTP/1.1 chunked, closed before the last (empty) chunk
            body = (Path(self.directory) / parts[1]).read_bytes()[:1000]
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
            self.close_connection = True
            return
        if parts[0] == "cut":
            body = (Path(self.directory) / parts[1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if parts[0] == "flaky":
            if self.hits[self.path] <= int(parts[1]):
                self.send_error(503)
                return
            self.path = "/" + "/".join(parts[2:])
        super().do_GET()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, int]]]:
    """(base URL, directory it serves, hits per path) of a real HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    hits: dict[str, int] = {}

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return type("H", (_Handler,), {"hits": hits})(*args, directory=str(served), **kwargs)  # type: ignore[no-any-return]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served, hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: list[Row], name: str = "people.csv", header: list[str] = HEADER) -> Path:
        return write_csv(tmp_path / name, rows, header)

    return make
