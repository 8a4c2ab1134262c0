"""Log lines of the app itself: database errors in one line with their SQLSTATE, request ids."""

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api_service.main import create_app

from .conftest import make_settings


def _records(captured: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_database_error_is_one_line_with_its_sqlstate(
    create_database: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(make_settings(create_database()))) as client:  # never migrated
        capsys.readouterr()
        response = client.get("/people", headers={"X-Request-ID": "req-1"})
    err = capsys.readouterr().err

    assert response.status_code == 503
    errors = [r for r in _records(err) if r["event"] == "database schema not ready"]
    assert len(errors) == 1
    (error,) = errors
    assert (error["level"], error["sqlstate"], error["request_id"]) == ("error", "42P01", "req-1")
    assert error["error"] == 'relation "person" does not exist'
    assert "Traceback" not in err
    assert all(line.startswith("{") for line in err.splitlines() if line)  # nothing spans lines


def test_traceback_at_debug(create_database: Callable[[], str], capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(make_settings(create_database(), log_level="debug"))) as client:
        capsys.readouterr()
        client.get("/people")
    records = _records(capsys.readouterr().err)

    (traceback,) = [r for r in records if r["event"] == "database error traceback"]
    assert traceback["level"] == "debug"
    assert "Traceback" in str(traceback["exception"])
    assert "UndefinedTable" in str(traceback["exception"])


def test_unexpected_error_is_a_json_500_with_the_request_id(
    seeded_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(seeded_url))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app) as client:
        capsys.readouterr()
        response = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    records = _records(capsys.readouterr().err)

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert response.headers["x-request-id"] == "req-boom"
    (error,) = [r for r in records if r["event"] == "unhandled error"]
    assert error["request_id"] == "req-boom"
    assert "RuntimeError: boom" in str(error["exception"])
    (access,) = [r for r in records if r["logger"] == "api_service.access"]
    assert access["status"] == 500


def test_console_format_on_request(seeded_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(make_settings(seeded_url, log_format="console"))) as client:
        capsys.readouterr()
        client.get("/healthz", headers={"X-Request-ID": "req-console"})
    err = capsys.readouterr().err

    (line,) = [line for line in err.splitlines() if "req-console" in line]
    assert not line.startswith("{")
    assert "request" in line
    assert "status=200" in line
    assert "api_service.access" in line
