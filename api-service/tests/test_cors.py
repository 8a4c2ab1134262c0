"""CORS: only the configured origins get the headers; none by default."""

from fastapi.testclient import TestClient

from api_service.main import create_app

from .conftest import make_settings

WEB_APP = "https://app.example.org"


def test_allowed_origin_gets_the_headers(seeded_url: str) -> None:
    with TestClient(create_app(make_settings(seeded_url, cors_origins=[WEB_APP]))) as client:
        simple = client.get("/people", headers={"Origin": WEB_APP})
        preflight = client.options(
            "/people", headers={"Origin": WEB_APP, "Access-Control-Request-Method": "GET"}
        )

    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == WEB_APP
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == WEB_APP


def test_other_origin_gets_none(seeded_url: str) -> None:
    with TestClient(create_app(make_settings(seeded_url, cors_origins=[WEB_APP]))) as client:
        simple = client.get("/people", headers={"Origin": "https://evil.example.com"})
        preflight = client.options(
            "/people", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"}
        )

    assert "access-control-allow-origin" not in simple.headers
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_nothing_is_allowed_by_default(seeded_client: TestClient) -> None:
    response = seeded_client.get("/people", headers={"Origin": WEB_APP})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_a_browser_may_send_a_token_and_read_retry_after(seeded_url: str) -> None:
    with TestClient(create_app(make_settings(seeded_url, cors_origins=[WEB_APP]))) as client:
        preflight = client.options(
            "/people",
            headers={
                "Origin": WEB_APP,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        simple = client.get("/people", headers={"Origin": WEB_APP})

    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    # Without it a cross-origin script cannot read how long to wait after a 503.
    exposed = simple.headers["access-control-expose-headers"].lower().replace(" ", "").split(",")
    assert "retry-after" in exposed
