"""Benchmark: what the client-registry heartbeat costs the list endpoint (issue 9's < 1 % target).

    python benchmarks/heartbeat.py [--rows 20000] [--duration 8] [--rounds 3]

The same API is served twice, side by side in one run: once registering at start-up only (an
interval of a day, so no heartbeat falls in the run) and once heartbeating every second, 60 times
the default of 60 s, so that its cost rises above the noise. Rounds alternate between the two
under the same load (run.py's servers and load generators). The cost at the default interval is
the measured one divided by 60. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time

from run import Result, bench_database, load_python, load_wrk, seed, serve
from sqlalchemy import Engine, create_engine

from orm_models import migrate, register_client
from orm_models.testing.postgres import running_postgres

FAST = 1.0
DEFAULT = 60.0


def _time_registrations(engine: Engine, count: int = 200) -> float:
    """Seconds per registration, the work one heartbeat does (median of `count`)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        register_client(engine, service="bench", instance="timing")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    load = load_wrk if shutil.which("wrk") else load_python

    with running_postgres() as server_url, bench_database(server_url) as url:
        engine = create_engine(url)
        migrate(engine)
        seed(engine, args.rows)
        per_beat = _time_registrations(engine)
        engine.dispose()
        app = ["--factory", "api_service.main:create_app"]
        # Both apps read anonymously: the comparison is the heartbeat alone, not the token check.
        common = {"DATABASE_URL": url, "API_AUTH_ANONYMOUS": "true"}
        quiet = {**common, "API_REGISTRY_HEARTBEAT_SECONDS": "86400"}
        beating = {**common, "API_REGISTRY_HEARTBEAT_SECONDS": str(FAST)}
        with (
            serve(app, quiet, "/readyz", args.workers) as off,
            serve(app, beating, "/readyz", args.workers) as on,
        ):

            def measure(base: str, duration: float) -> Result:
                return load(f"{base}/people?limit=50", duration, args.connections, args.threads, {})

            measure(off, 2)
            measure(on, 2)
            rounds = [(measure(off, args.duration), measure(on, args.duration)) for _ in range(args.rounds)]

    print(
        f"\n{args.rows} people, 50 rows/page, {args.connections} connections, {args.workers} workers per app"
    )
    print(f"| round | start-up only req/s | heartbeat every {FAST:g} s req/s | change |")
    print("|---|---:|---:|---:|")
    changes = []
    for number, (quiet_result, beat_result) in enumerate(rounds, 1):
        change = beat_result.requests_per_second / quiet_result.requests_per_second - 1
        changes.append(change)
        print(
            f"| {number} | {quiet_result.requests_per_second:.0f} | {beat_result.requests_per_second:.0f} "
            f"| {change:+.2%} |"
        )
    median = statistics.median(changes)
    at_default = median * FAST / DEFAULT
    print(
        f"\none heartbeat (register_client, one round trip + upsert) takes {per_beat * 1000:.2f} ms: "
        f"{per_beat / DEFAULT:.4%} of one thread's time at the default {DEFAULT:g} s"
    )
    print(
        f"heartbeat every {FAST:g} s: {median:+.2%} req/s (median of rounds); at the default "
        f"{DEFAULT:g} s that scales to {at_default:+.3%}   target: cost < 1 %: "
        f"{'met' if -at_default < 0.01 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
