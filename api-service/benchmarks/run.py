"""Benchmark: this API's list endpoint beside a bare Starlette + psycopg2 one, in the same run.

    python benchmarks/run.py [--rows 100000] [--duration 10] [--rounds 3]

Seeds a fresh database (DATABASE_URL's server, else an embedded PostgreSQL), serves both apps
with uvicorn (2 workers each) on free 127.0.0.1 ports, the API as deployed: bearer tokens checked
against a local OIDC issuer (every request carries one), /metrics on (multiprocess), one JSON log
line per request (to a file), loads each in turn with wrk (2 threads,
32 connections) or, without wrk, a plain asyncio HTTP/1.1 load generator, and prints req/s
and latency side by side, then page 1 vs page 2 000 by keyset and by OFFSET. Not a test: the
numbers depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from api_service.dev_issuer import DevIssuer
from api_service.pagination import encode_cursor
from orm_models import migrate
from orm_models.testing.postgres import running_postgres

HERE = Path(__file__).resolve().parent
PAGE = 50
DEEP_PAGE = 2000
ORGANIZATIONS = 1000


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


# --- database -------------------------------------------------------------------------------


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(engine: Engine, rows: int) -> None:
    """ORGANIZATIONS organizations and `rows` people (1 in 10 without organization), by COPY."""
    organizations = io.StringIO("".join(f"org-{i}\tOrganization {i}\n" for i in range(1, ORGANIZATIONS + 1)))
    people = io.StringIO()
    for i in range(1, rows + 1):
        family = "\\N" if i % 17 == 0 else f"Family{i % 5000}"
        organization = "\\N" if i % 10 == 0 else str(i % ORGANIZATIONS + 1)
        people.write(f"person-{i}\tGiven{i % 3000}\t{family}\tperson{i}@example.org\t{organization}\n")
    organizations.seek(0)
    people.seek(0)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.copy_expert("COPY organization (external_id, name) FROM STDIN", organizations)
        cursor.copy_expert(
            "COPY person (external_id, given_name, family_name, email, organization_id) FROM STDIN", people
        )
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(
    args: list[str], env: dict[str, str], ready_path: str, workers: int, log: Path | None = None
) -> Iterator[str]:
    """Run uvicorn with `args` on a free port until the block ends; yield its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    stderr = log.open("ab") if log is not None else None
    process = subprocess.Popen(command, env={**os.environ, **env}, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + ready_path, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready: {' '.join(command)}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if stderr is not None:
            stderr.close()


# --- load generators ------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def load_wrk(url: str, duration: float, connections: int, threads: int, headers: dict[str, str]) -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    for name, value in headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx[1]) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Result(float(rps[1]), _wrk_ms(p50[1]), _wrk_ms(p99[1]), errors)


async def _client(host: str, port: int, request: bytes, stop_at: float, latencies: list[float]) -> int:
    """One keep-alive HTTP/1.1 connection sending `request` back to back until `stop_at`."""
    errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(length[1]) if length else 0)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
    finally:
        writer.close()
    return errors


async def _load_asyncio(url: str, duration: float, connections: int, headers: dict[str, str]) -> Result:
    parsed = urllib.parse.urlsplit(url)
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {target} HTTP/1.1\r\nHost: {parsed.netloc}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    started = time.perf_counter()
    stop_at = started + duration
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    errors = await asyncio.gather(
        *(_client(host, port, request, stop_at, latencies) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, sum(errors))


def load_python(url: str, duration: float, connections: int, threads: int, headers: dict[str, str]) -> Result:
    del threads  # one event loop: the generator, not the server, may be the limit here
    return asyncio.run(_load_asyncio(url, duration, connections, headers))


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="people to seed (default 100000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating API/bare rounds (default 3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per app")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()

    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    load = load_wrk if use_wrk else load_python
    loadgen = f"wrk {args.threads} threads" if use_wrk else "plain asyncio load generator"
    if not use_wrk and args.loadgen == "auto":
        loadgen += " (no wrk found; it shares the 2 cores, so compare ratios only)"
    deep_page = min(DEEP_PAGE, args.rows // PAGE)

    with (
        running_postgres() as server_url,
        bench_database(server_url) as url,
        DevIssuer() as issuer,
        tempfile.TemporaryDirectory(prefix="api-bench-") as scratch,
    ):
        print(f"seeding {args.rows} people ...", flush=True)
        engine = create_engine(url)
        migrate(engine)
        seed(engine, args.rows)
        with engine.connect() as connection:
            # The id the page before `deep_page` ends on: page `deep_page` starts after it.
            deep_after_id: int = connection.execute(
                text("SELECT id FROM person ORDER BY id OFFSET :n LIMIT 1"), {"n": (deep_page - 1) * PAGE - 1}
            ).scalar_one()
        engine.dispose()

        libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        api_args = ["--factory", "api_service.main:create_app"]
        metrics_dir = Path(scratch) / "metrics"
        metrics_dir.mkdir()
        api_env = {
            "DATABASE_URL": url,
            "API_AUTH_ISSUER": issuer.url,
            "API_AUTH_AUDIENCE": issuer.audience,
            "API_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        api_log = Path(scratch) / "api.log"
        # Both get the header, so both parse the same request; only the API checks it.
        headers = {"Authorization": f"Bearer {issuer.issue(expires_in=3600)}"}
        bare_args = ["bare_app:app", "--app-dir", str(HERE)]
        with (
            serve(api_args, api_env, "/readyz", args.workers, api_log) as api,
            serve(bare_args, {"BENCH_DATABASE_URL": libpq_url}, "/people?limit=1", args.workers) as bare,
        ):
            api_list, bare_list = f"{api}/people?limit={PAGE}", f"{bare}/people?limit={PAGE}"

            def measure(url: str, duration: float) -> Result:
                return load(url, duration, args.connections, args.threads, headers)

            print(f"warming up; then {args.rounds} x {args.duration:g} s per app with {loadgen}", flush=True)
            measure(api_list, 2)
            measure(bare_list, 2)
            rounds: list[tuple[Result, Result]] = []
            for _ in range(args.rounds):
                rounds.append((measure(api_list, args.duration), measure(bare_list, args.duration)))

            depth_duration = max(2.0, args.duration / 2)
            cursor = encode_cursor("person", deep_after_id)
            depth = [
                ("api   page 1 (keyset)", measure(api_list, depth_duration)),
                (f"api   page {deep_page} (keyset)", measure(f"{api_list}&cursor={cursor}", depth_duration)),
                ("bare  page 1 (keyset)", measure(bare_list, depth_duration)),
                (
                    f"bare  page {deep_page} (keyset)",
                    measure(f"{bare_list}&after_id={deep_after_id}", depth_duration),
                ),
                (
                    f"bare  page {deep_page} (OFFSET {(deep_page - 1) * PAGE})",
                    measure(f"{bare_list}&offset={(deep_page - 1) * PAGE}", depth_duration),
                ),
            ]
            # Read while the scratch directory still exists: evidence the API logged every request.
            access = api_log.read_text()
            access_lines = access.count('"logger":"api_service.access"')
            statuses = collections.Counter(re.findall(r'"status":(\d+)', access))
    report(args, loadgen, rounds, depth, deep_page)
    print(
        f"api as deployed: RS256 bearer token checked on every request, /metrics on (multiprocess), "
        f"{access_lines} JSON access-log lines written; statuses {dict(sorted(statuses.items()))}"
    )


def report(
    args: argparse.Namespace,
    loadgen: str,
    rounds: list[tuple[Result, Result]],
    depth: list[tuple[str, Result]],
    deep_page: int,
) -> None:
    def row(label: str, result: Result, note: str = "") -> str:
        errors = f"  errors {result.errors}" if result.errors else ""
        figures = f"{result.requests_per_second:>8.0f} | {result.p50_ms:>7.1f} | {result.p99_ms:>7.1f}"
        return f"| {label:<34} | {figures} | {note}{errors}".rstrip()

    header = f"| {'':<34} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | note"
    rule = f"|{'-' * 36}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|-----"
    print()
    print(
        f"{args.rows} people, {PAGE} rows/page, {args.connections} connections, {loadgen}, "
        f"{args.workers} uvicorn workers per app, {args.duration:g} s per run"
    )
    print(header)
    print(rule)
    ratios = []
    for number, (api, bare) in enumerate(rounds, 1):
        ratio = api.requests_per_second / bare.requests_per_second
        ratios.append(ratio)
        print(row(f"api   GET /people (round {number})", api, f"{ratio:.2f}x bare"))
        print(row(f"bare  GET /people (round {number})", bare))
    print(rule)
    for label, result in depth:
        print(row(label, result))
    print()
    ratio = statistics.median(ratios)
    p99s = [api.p99_ms for api, _ in rounds]
    median_p99, worst_p99 = statistics.median(p99s), max(p99s)
    page_1, deep = depth[0][1], depth[1][1]
    deep_change = deep.requests_per_second / page_1.requests_per_second - 1
    offset_change = depth[4][1].requests_per_second / depth[2][1].requests_per_second - 1
    print(f"api/bare throughput (median of rounds): {ratio:.3f}x   target >= 0.5x: {_verdict(ratio >= 0.5)}")
    p99_ok = _verdict(median_p99 <= 100)
    print(
        f"api p99 at that load: median {median_p99:.1f} ms, worst {worst_p99:.1f} ms   "
        f"target <= 100 ms (median): {p99_ok}"
    )
    print(
        f"api page {deep_page} vs page 1 (keyset): {deep_change:+.0%} req/s   "
        f"target within 20%: {_verdict(abs(deep_change) <= 0.2)}"
    )
    print(f"bare page {deep_page} vs page 1 via OFFSET, for contrast: {offset_change:+.0%} req/s")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


if __name__ == "__main__":
    main()
