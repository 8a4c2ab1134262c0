"""The baseline: the same JSON from the same tables with nothing but Starlette and psycopg2.

Made as fast as a hand-written endpoint reasonably gets, so the ratio is not flattered: a
psycopg2 pool of autocommit connections, one SQL string, tuples to dicts, orjson. Like the API
its endpoint is sync (psycopg2 blocks), so Starlette runs it in the threadpool. `offset=` and
`after_id=` exist for the depth comparison only.

Served by `uvicorn bare_app:app --app-dir benchmarks`; reads BENCH_DATABASE_URL (libpq URI).
"""

import base64
import os
import threading
from typing import Any

import orjson
from psycopg2.pool import ThreadedConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SELECT = (
    "SELECT p.id, p.external_id, p.given_name, p.family_name, p.email, o.id, o.name,"
    " p.created_at, p.updated_at"
    " FROM person p LEFT JOIN organization o ON o.id = p.organization_id"
)
_KEYSET = _SELECT + " WHERE p.id > %s ORDER BY p.id LIMIT %s"
_OFFSET = _SELECT + " ORDER BY p.id LIMIT %s OFFSET %s"

# Same size as the API's pool. psycopg2's pool raises when empty instead of waiting, hence the
# semaphore; and it closes returned connections beyond `minconn`, hence minconn == maxconn.
POOL_SIZE = 20
_slots = threading.BoundedSemaphore(POOL_SIZE)
_pool: ThreadedConnectionPool | None = None
_pool_lock = threading.Lock()


def _connection_pool() -> ThreadedConnectionPool:
    # Built lazily: each uvicorn worker process needs its own pool.
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadedConnectionPool(POOL_SIZE, POOL_SIZE, os.environ["BENCH_DATABASE_URL"])
            for connection in [_pool.getconn() for _ in range(POOL_SIZE)]:
                connection.autocommit = True
                _pool.putconn(connection)
        return _pool


def people(request: Request) -> Response:
    limit = int(request.query_params.get("limit", "50"))
    offset = request.query_params.get("offset")
    pool = _connection_pool()
    with _slots:
        connection = pool.getconn()
        try:
            with connection.cursor() as cursor:
                if offset is not None:
                    cursor.execute(_OFFSET, (limit + 1, int(offset)))
                else:
                    cursor.execute(_KEYSET, (int(request.query_params.get("after_id", "0")), limit + 1))
                rows: list[tuple[Any, ...]] = cursor.fetchall()
        finally:
            pool.putconn(connection)
    items = [
        {
            "id": row[0],
            "external_id": row[1],
            "given_name": row[2],
            "family_name": row[3],
            "email": row[4],
            "organization": None if row[5] is None else {"id": row[5], "name": row[6]},
            "created_at": row[7],
            "updated_at": row[8],
        }
        for row in rows[:limit]
    ]
    next_cursor = next_link = None
    if len(rows) > limit:
        next_cursor = base64.urlsafe_b64encode(f"person:{items[-1]['id']}".encode()).rstrip(b"=").decode()
        next_link = f"/people?limit={limit}&cursor={next_cursor}"
    body = {"items": items, "next_cursor": next_cursor, "next": next_link}
    return Response(orjson.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/people", people)])
