"""The database goes away under the running app: 503 JSON; it comes back: 200, no restart.

Runs its own embedded PostgreSQL (own data directory) so stopping it disturbs nothing else.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api_service.main import create_app
from orm_models import migrate
from orm_models.testing.postgres import EmbeddedPostgres, embedded_postgres

from .conftest import make_settings
from .factories import make_person


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = embedded_postgres(tmp_path / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _assert_unavailable(client: TestClient) -> None:
    response = client.get("/people")
    assert response.status_code == 503
    assert response.json() == {"detail": "database unavailable"}
    assert response.headers["retry-after"] == "7"
    assert response.headers["content-type"] == "application/json"


def test_stopped_then_started_under_the_running_app(server: EmbeddedPostgres) -> None:
    url = server.url
    migrate(url)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        person_id = make_person(session).id
    engine.dispose()

    with TestClient(create_app(make_settings(url))) as client:
        assert client.get(f"/people/{person_id}").status_code == 200  # the pool now holds a connection

        server.stop()
        _assert_unavailable(client)
        assert client.get(f"/people/{person_id}").status_code == 503
        assert client.get("/organizations").status_code == 503
        assert client.get("/healthz").status_code == 200  # alive: no restart wanted
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "unreachable"
        assert ready.json()["detail"] == "database unreachable"  # no host, socket or user names
        version = client.get("/version")
        assert version.status_code == 200
        assert version.json()["schema_revision"] is None

        server.start()
        assert client.get(f"/people/{person_id}").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_starts_while_the_database_is_down(server: EmbeddedPostgres) -> None:
    url = server.url
    migrate(url)
    server.stop()

    with TestClient(create_app(make_settings(url))) as client:  # start-up must not crash
        _assert_unavailable(client)
        assert client.get("/readyz").status_code == 503

        server.start()
        assert client.get("/people").status_code == 200
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "ping_after_idle_seconds",
    [
        pytest.param(0.0, id="stale-connection-caught-by-the-ping"),
        pytest.param(3600.0, id="stale-connection-caught-by-the-retry"),
    ],
)
def test_a_restart_between_two_requests_fails_none(
    server: EmbeddedPostgres, ping_after_idle_seconds: float
) -> None:
    url = server.url
    migrate(url)
    settings = make_settings(url, ping_after_idle_seconds=ping_after_idle_seconds)

    with TestClient(create_app(settings)) as client:
        assert client.get("/people").status_code == 200  # the pool now holds a connection

        server.stop()
        server.start()  # that pooled connection is dead, and nothing has told the pool yet

        assert client.get("/people").status_code == 200
        assert client.get("/organizations").status_code == 200
