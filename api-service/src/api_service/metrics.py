"""Prometheus metrics: requests by route template and status, the DB pool, the schema guard.

With several uvicorn workers every process writes its samples under PROMETHEUS_MULTIPROC_DIR
(set by `api-service` itself when it starts more than one worker; set it yourself for
`uvicorn --workers N`), and `/metrics` adds them up, whichever worker answers the scrape. The
variable must be set before this module is imported: prometheus_client picks its storage then.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

_LABELS = ("method", "route", "status")
REQUESTS = Counter("http_requests_total", "HTTP requests answered.", _LABELS)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    _LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# `livesum`: the processes alive now, added up (a worker's samples go when it stops).
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Database connections checked out of the pool.", multiprocess_mode="livesum"
)
POOL_IDLE = Gauge(
    "db_pool_connections_idle", "Open database connections idle in the pool.", multiprocess_mode="livesum"
)
# `livemin`: 0 if any worker's last check failed.
SCHEMA_OK = Gauge(
    "schema_guard_ok",
    "1 when the database has every table and column the installed orm-models maps, else 0.",
    multiprocess_mode="livemin",
)

_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def observe(method: str, route: str, status: int, seconds: float) -> None:
    # The labelled children are looked up once per combination; `.labels()` takes a lock each time.
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route, str(status)),
        )
    children[0].inc()
    children[1].observe(seconds)


def observe_pool(engine: Engine) -> None:
    pool = engine.pool
    POOL_IN_USE.set(pool.checkedout())  # type: ignore[attr-defined]
    POOL_IDLE.set(pool.checkedin())  # type: ignore[attr-defined]


def schema_guard(ok: bool) -> None:
    SCHEMA_OK.set(1 if ok else 0)


def process_exiting() -> None:
    """Drop this process's live gauges from the shared directory (the counters stay)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def endpoint(request: Request) -> Response:
    """`/metrics`; sync, so reading the workers' files happens in a worker thread."""
    engine: Engine = request.app.state.engine
    observe_pool(engine)
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
