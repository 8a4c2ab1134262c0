"""Benchmark: valid-token latency while the issuer stalls and unknown-kid tokens flood in (issue 21).

    python benchmarks/stalled_issuer.py [--rows 20000] [--duration 8] [--stall 6] [--flood 50]

One API (uvicorn, 2 workers, tokens required, metrics and logs on, as deployed) behind the local
issuer. Two phases under the same valid-token load (plain asyncio generator, 8 connections):

1. calm: the issuer answers at once, no junk;
2. stalled: the issuer takes `--stall` seconds for every JWKS answer, and tokens signed with a
   key it never published (an unknown `kid`, each one starting or meeting a key refresh) arrive
   at `--flood` per second. API_AUTH_JWKS_MIN_REFRESH_SECONDS=0, the worst case: a refresh is
   started again as soon as the previous one gave up.

It prints valid-token p50/p99 of both phases, and what the flood got (all 401, and how fast).
Before this change (issue 21's measurement) the stalled phase gave valid tokens p50 1.9 s, worst
3.1 s. Not a test: the figures depend on the machine and whatever else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from run import Result, _load_asyncio, bench_database, seed, serve
from sqlalchemy import create_engine

from api_service.dev_issuer import DevIssuer, SigningKey
from orm_models import migrate
from orm_models.testing.postgres import running_postgres


async def _one(host: str, port: int, request: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), time.perf_counter() - started


async def _flood(
    host: str, port: int, token: str, per_second: float, stop_at: float
) -> list[tuple[int, float]]:
    request = (
        f"GET /people?limit=1 HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    tasks = []
    while time.perf_counter() < stop_at:
        tasks.append(asyncio.create_task(_one(host, port, request)))
        await asyncio.sleep(1 / per_second)
    return list(await asyncio.gather(*tasks))


async def _phase(
    base: str, valid: dict[str, str], junk: str | None, args: argparse.Namespace
) -> tuple[Result, list[tuple[int, float]]]:
    host, port = base.removeprefix("http://").split(":")
    stop_at = time.perf_counter() + args.duration
    load = _load_asyncio(f"{base}/people?limit=50", args.duration, args.connections, valid)
    if junk is None:
        return await load, []
    result, flood = await asyncio.gather(load, _flood(host, int(port), junk, args.flood, stop_at))
    return result, flood


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--stall", type=float, default=6.0, help="seconds the issuer takes per JWKS answer")
    parser.add_argument("--flood", type=float, default=50.0, help="unknown-kid requests per second")
    parser.add_argument("--connections", type=int, default=8, help="valid-token connections")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with running_postgres() as server_url, bench_database(server_url) as url, DevIssuer() as issuer:
        engine = create_engine(url)
        migrate(engine)
        seed(engine, args.rows)
        engine.dispose()
        env = {
            "DATABASE_URL": url,
            "API_AUTH_ISSUER": issuer.url,
            "API_AUTH_AUDIENCE": issuer.audience,
            "API_AUTH_JWKS_MIN_REFRESH_SECONDS": "0",
            "API_LOG_FORMAT": "json",
        }
        valid = {"Authorization": f"Bearer {issuer.issue(expires_in=3600)}"}
        junk = issuer.issue(key=SigningKey.generate("RS256"), expires_in=3600)
        with serve(["--factory", "api_service.main:create_app"], env, "/readyz", args.workers) as api:
            asyncio.run(_phase(api, valid, None, argparse.Namespace(**{**vars(args), "duration": 2})))  # warm
            calm, _ = asyncio.run(_phase(api, valid, None, args))
            issuer.jwks_delay = args.stall
            stalled, flood = asyncio.run(_phase(api, valid, junk, args))
            issuer.jwks_delay = 0
            refreshes = issuer.jwks_requests

    flood_statuses = sorted({status for status, _ in flood})
    flood_ms = [seconds * 1000 for _, seconds in flood]
    print(
        f"\n{args.rows} people, {args.connections} valid-token connections, {args.workers} workers, "
        f"{args.duration:g} s per phase"
    )
    print("| phase | valid req/s | valid p50 ms | valid p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for label, result in (
        ("calm issuer", calm),
        (f"issuer {args.stall:g} s + {args.flood:g}/s unknown kids", stalled),
    ):
        print(
            f"| {label} | {result.requests_per_second:.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} "
            f"| {result.errors} |"
        )
    if flood_ms:
        quantiles = statistics.quantiles(flood_ms, n=100)
        print(
            f"\nunknown-kid flood: {len(flood)} requests, statuses {flood_statuses}, "
            f"p50 {quantiles[49]:.1f} ms, p99 {quantiles[98]:.1f} ms, max {max(flood_ms):.0f} ms; "
            f"JWKS requests at the issuer: {refreshes}"
        )
    change = stalled.p99_ms / calm.p99_ms - 1
    print(f"valid-token p99, stalled vs calm: {change:+.0%}")


if __name__ == "__main__":
    main()
