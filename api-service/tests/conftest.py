"""Fixtures: apps over real PostgreSQL databases (embedded unless DATABASE_URL is set)."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api_service.config import Settings
from api_service.deps import get_session
from api_service.main import create_app
from orm_models import migrate

from .factories import make_organization, make_person

pytest_plugins = ["orm_models.testing.fixtures"]

DEFAULT_PAGE = 5
MAX_PAGE = 25
SEEDED_PEOPLE = 23


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "default_page_size": DEFAULT_PAGE,
        "max_page_size": MAX_PAGE,
        "retry_after_seconds": 7,
        "connect_timeout_seconds": 2,
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def client(migrated_url: str, db_session: Session) -> Iterator[TestClient]:
    """The app on the migrated database, its sessions replaced by the test's rolled-back one."""
    app = create_app(make_settings(migrated_url))

    def test_session() -> Iterator[Session]:
        yield db_session

    app.dependency_overrides[get_session] = test_session
    with TestClient(app) as test_client:
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
def seeded_client(seeded_url: str) -> Iterator[TestClient]:
    """The app, unmodified, on the seeded database: read-only tests share it."""
    with TestClient(create_app(make_settings(seeded_url))) as test_client:
        yield test_client
