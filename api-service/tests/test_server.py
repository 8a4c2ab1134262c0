"""`api-service --workers 2` as deployed: its log lines, request ids and /metrics across workers.

One server for the module (a real uvicorn with two worker processes, over the seeded database,
tokens from the local issuer); stderr goes to a file the tests read.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from api_service.dev_issuer import DevIssuer

BIN = Path(sys.executable).parent


@dataclass
class Server:
    base: str
    log: Path
    metrics_dir: Path
    token: str

    def lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server(seeded_url: str, issuer: DevIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("server")
    port = _free_port()
    log = work / "stderr.log"
    metrics_dir = work / "metrics"
    metrics_dir.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("API_")},
        "DATABASE_URL": seeded_url,
        "API_AUTH_ISSUER": issuer.url,
        "API_AUTH_AUDIENCE": issuer.audience,
        # Given here only so the test can look at the files each worker writes.
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "api-service"), "--port", str(port), "--workers", "2"],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # Both workers are up once each has logged its start.
        while log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Server(base, log, metrics_dir, issuer.issue())
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_line_is_one_json_event(server: Server) -> None:
    _get(f"{server.base}/people", {"Authorization": f"Bearer {server.token}"})

    for line in server.lines():
        record = json.loads(line)  # one event per line, each a JSON object
        assert {"timestamp", "level", "logger", "event"} <= set(record), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", str(record["timestamp"])), line


def test_uvicorn_and_the_schema_guard_log_in_the_same_format(server: Server) -> None:
    records = server.records()
    events = {(record["logger"], record["level"], record["event"]) for record in records}

    assert ("uvicorn.error", "info", "Application startup complete.") in events
    assert any(str(event).startswith("Started server process") for _, _, event in events)
    verdicts = [r for r in records if r["logger"] == "api_service.guard"]
    assert len(verdicts) == 2  # one per worker
    assert {(r["level"], r["event"]) for r in verdicts} == {
        ("info", "schema guard: schema at the expected revision")
    }
    assert any(r["event"] == "bearer tokens required" and r["scope"] == "people:read" for r in records)


def test_request_line_with_the_callers_request_id(server: Server) -> None:
    status, headers, _ = _get(
        f"{server.base}/people?limit=2",
        {"Authorization": f"Bearer {server.token}", "X-Request-ID": "web-4f2a.17"},
    )

    assert status == 200
    assert headers["x-request-id"] == "web-4f2a.17"
    # Other lines may carry the id too (the worker's first token fetches the JWKS): the access line.
    line = _wait_for(server, lambda r: r.get("request_id") == "web-4f2a.17" and r.get("event") == "request")
    assert line["logger"] == "api_service.access"
    assert (line["event"], line["method"], line["path"], line["status"]) == ("request", "GET", "/people", 200)
    assert isinstance(line["duration_ms"], float)


@pytest.mark.parametrize("sent", [None, "x" * 129, "bad id with spaces"])
def test_request_id_generated_when_absent_or_unfit(server: Server, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    status, response_headers, _ = _get(f"{server.base}/people", headers)

    assert status == 401
    generated = response_headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    line = _wait_for(server, lambda r: r.get("request_id") == generated and r.get("event") == "request")
    assert (line["logger"], line["status"]) == ("api_service.access", 401)


def _wait_for(server: Server, match: object) -> dict[str, object]:
    # The worker writes its line right after the response; give it a moment.
    deadline = time.monotonic() + 60  # a bound for a hang, not a speed target
    while True:
        found = [r for r in server.records() if match(r)]  # type: ignore[operator]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, "no such log line"
        time.sleep(0.05)


def _people_count(metrics_text: str) -> float:
    pattern = r'^http_requests_total\{method="GET",route="/people",status="200"\} (\S+)$'
    match = re.search(pattern, metrics_text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def _pids_with_counters(server: Server) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in server.metrics_dir.glob("counter_*.db")}


def test_metrics_add_up_both_workers(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    before = _people_count(_get(f"{server.base}/metrics")[2].decode())
    sent = 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        # Each request on a new connection; the kernel spreads them over the two workers. Go on
        # (bounded) until both have served some, so the sum below really is over two processes.
        for _ in range(20):
            statuses = list(pool.map(lambda _: _get(f"{server.base}/people", headers)[0], range(40)))
            assert statuses == [200] * 40
            sent += 40
            if len(_pids_with_counters(server)) >= 2:
                break
    assert len(_pids_with_counters(server)) >= 2

    scrapes = [_get(f"{server.base}/metrics")[2].decode() for _ in range(4)]  # whichever worker answers

    assert {_people_count(text) - before for text in scrapes} == {sent}
    text = scrapes[0]
    assert "http_request_duration_seconds_bucket" in text
    assert re.search(
        r'^http_request_duration_seconds_count\{method="GET",route="/people",status="200"\}', text, re.M
    )
    assert re.search(r"^schema_guard_ok 1\.0$", text, re.M)
    in_use = re.search(r"^db_pool_connections_in_use (\S+)$", text, re.M)
    idle = re.search(r"^db_pool_connections_idle (\S+)$", text, re.M)
    assert in_use is not None
    assert idle is not None
    assert float(idle[1]) >= 1  # each worker keeps the connections it opened
