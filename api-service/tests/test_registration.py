"""The API registers in orm-models' client registry at start-up and heartbeats, off the request path."""

import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import orm_models
from api_service.main import create_app
from api_service.schemas.health import Version
from orm_models import migrate
from orm_models.registry import Registration, registered_clients

from .conftest import make_settings

HAS_REGISTRY = hasattr(orm_models, "register_client")  # orm-models 2.3+; the range admits 2.1


def _version_once(client: TestClient, status: str) -> Version:
    """/version as soon as the heartbeat reached `status` (bounded: 30 s, then the test fails)."""
    deadline = time.monotonic() + 30
    while True:
        body = Version.model_validate_json(client.get("/version").content)
        if body.registration is not None and body.registration.status == status:
            return body
        assert time.monotonic() < deadline, body.registration
        time.sleep(0.05)


def _seen(url: str) -> list[Registration]:
    """The registry as orm-models reads it (per process before 2.5, per service and version since)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return registered_clients(connection)
    finally:
        engine.dispose()


def test_registers_at_start_up_and_heartbeats(create_database: Callable[[], str]) -> None:
    url = create_database()
    migrate(url)
    settings = make_settings(url, registry_heartbeat_seconds=0.2, instance="web-1")
    with TestClient(create_app(settings)) as client:
        if not HAS_REGISTRY:  # the lowest orm-models this service's range admits (2.1) has none
            registration = _version_once(client, "unsupported").registration
            assert registration is not None
            assert "no client registry" in registration.detail
            return
        first = _version_once(client, "registered").registration
        assert first is not None
        assert first.instance == "web-1"
        [row] = _seen(url)
        assert (row.service, list(row.writes)) == ("api-service", [])  # read-only: it writes nothing
        while _seen(url)[0].last_seen_at == row.last_seen_at:  # the next heartbeat moves it
            time.sleep(0.05)
        assert client.get("/healthz").status_code == 200


def test_a_read_only_role_gets_a_warning_and_keeps_serving(
    create_database: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    url = create_database()
    migrate(url)
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text("CREATE ROLE api_reader_9 LOGIN"))
        connection.execute(sa.text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO api_reader_9"))
    reader_url = sa.make_url(url).set(username="api_reader_9", password=None).render_as_string(False)
    try:
        with TestClient(create_app(make_settings(reader_url))) as client:
            registration = _version_once(client, "failed" if HAS_REGISTRY else "unsupported").registration
            assert registration is not None
            assert client.get("/readyz").status_code == 200
        if not HAS_REGISTRY:
            return
        assert "not writable" in registration.detail
        warnings = [r.getMessage() for r in caplog.records if "registry heartbeat" in r.getMessage()]
        assert warnings
        assert all("\n" not in w for w in warnings)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text("DROP OWNED BY api_reader_9"))
            connection.execute(sa.text("DROP ROLE api_reader_9"))
        admin.dispose()
