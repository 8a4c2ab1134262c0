"""Fixtures: apps over real PostgreSQL databases (embedded unless DATABASE_URL is set)."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api_service.config import Settings
from api_service.deps import get_session
from api_service.dev_issuer import DevIssuer
from api_service.main import create_app
from orm_models import migrate

from .factories import make_organization, make_person

pytest_plugins = ["orm_models.testing.fixtures"]

DEFAULT_PAGE = 5
MAX_PAGE = 25
SEEDED_PEOPLE = 23


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings; anonymous unless `auth_settings(issuer)` is passed in the overrides."""
    values: dict[str, object] = {
        "database_url": database_url,
        "default_page_size": DEFAULT_PAGE,
        "max_page_size": MAX_PAGE,
        "retry_after_seconds": 7,
        "connect_timeout_seconds": 2,
        "auth_anonymous": True,
        "log_format": "json",
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def auth_settings(issuer: DevIssuer) -> dict[str, object]:
    return {"auth_anonymous": False, "auth_issuer": issuer.url, "auth_audience": issuer.audience}


@pytest.fixture(scope="session")
def issuer() -> Iterator[DevIssuer]:
    """The local OIDC issuer, on a free loopback port."""
    with DevIssuer() as running:
        yield running


@pytest.fixture(scope="session")
def bearer(issuer: DevIssuer) -> dict[str, str]:
    """Headers with a valid token (people:read) for the apps of the fixtures below."""
    return {"Authorization": f"Bearer {issuer.issue()}"}


@pytest.fixture
def client(
    migrated_url: str, db_session: Session, issuer: DevIssuer, bearer: dict[str, str]
) -> Iterator[TestClient]:
    """The app (tokens required) on the migrated database, its sessions the test's rolled-back one."""
    app = create_app(make_settings(migrated_url, **auth_settings(issuer)))

    def test_session() -> Iterator[Session]:
        yield db_session

    app.dependency_overrides[get_session] = test_session
    with TestClient(app, headers=bearer) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def seeded_url(create_database: Callable[[], str]) -> str:
    """A database with committed rows, for tests that go through the app's own engine."""
    url = create_database()
    migrate(url)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        organizations = [make_organization(session, name=f"Org {n}") for n in range(3)]
        for n in range(SEEDED_PEOPLE):
            make_person(
                session,
                given_name=f"Given{n}",
                family_name=None if n % 7 == 0 else f"Family{n}",
                organization_id=None if n % 5 == 0 else organizations[n % 3].id,
            )
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def seeded_client(seeded_url: str, issuer: DevIssuer, bearer: dict[str, str]) -> Iterator[TestClient]:
    """The app, unmodified (tokens required), on the seeded database: read-only tests share it."""
    app = create_app(make_settings(seeded_url, **auth_settings(issuer)))
    with TestClient(app, headers=bearer) as test_client:
        yield test_client
