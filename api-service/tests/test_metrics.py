"""/metrics in one process: labels by route template, the pool, the schema guard."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from api_service.main import create_app

from .conftest import make_settings


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def test_requests_by_route_template_and_status(seeded_url: str) -> None:
    with TestClient(create_app(make_settings(seeded_url))) as client:
        before = client.get("/metrics").text
        for person_id in (1, 2, 999_999):
            client.get(f"/people/{person_id}")
        client.get("/no/such/path/123")
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def delta(sample: str) -> float:
        return _value(text, sample) - _value(before, sample)

    person = 'http_requests_total{method="GET",route="/people/{person_id}",status="%s"}'
    assert delta(person % 200) == 2
    assert delta(person % 404) == 1
    # Unknown paths share one label: a scanner cannot grow the series without bound.
    assert delta('http_requests_total{method="GET",route="unmatched",status="404"}') == 1
    assert "/no/such/path" not in text
    assert (
        delta('http_request_duration_seconds_count{method="GET",route="/people/{person_id}",status="200"}')
        == 2
    )
    assert _value(text, "schema_guard_ok") == 1
    assert _value(text, "db_pool_connections_in_use") == 0  # every request has returned its connection
    assert _value(text, "db_pool_connections_idle") >= 1


def test_schema_guard_state_follows_readiness(create_database: Callable[[], str]) -> None:
    with TestClient(create_app(make_settings(create_database()))) as client:  # never migrated
        assert client.get("/readyz").status_code == 503
        text = client.get("/metrics").text

    assert _value(text, "schema_guard_ok") == 0
    assert re.search(r"^schema_guard_ok 0\.0$", text, re.MULTILINE)


def test_metrics_can_be_switched_off(seeded_url: str) -> None:
    with TestClient(create_app(make_settings(seeded_url, metrics=False))) as client:
        assert client.get("/metrics").status_code == 404
