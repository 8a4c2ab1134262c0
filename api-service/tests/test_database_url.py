"""The URL forms hosting providers hand out all reach the database (through psycopg2)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api_service.main import create_app

from .conftest import make_settings


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2"])
def test_each_url_form_serves(seeded_url: str, scheme: str) -> None:
    url = make_url(seeded_url).set(drivername=scheme).render_as_string(hide_password=False)
    assert url.startswith(f"{scheme}://")

    with TestClient(create_app(make_settings(url))) as client:
        people = client.get("/people")
        ready = client.get("/readyz")

    assert people.status_code == 200
    assert people.json()["items"]
    assert ready.status_code == 200
