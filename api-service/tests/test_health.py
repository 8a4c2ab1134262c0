"""/healthz, /readyz and /version."""

from collections.abc import Callable

import sqlalchemy
from fastapi.testclient import TestClient

import orm_models
from api_service.main import create_app
from api_service.schemas.health import Readiness, Version
from orm_models.guard import schema_problems

from .conftest import make_settings


def test_healthz(seeded_client: TestClient) -> None:
    response = seeded_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_schema_is_at_head(seeded_client: TestClient) -> None:
    response = seeded_client.get("/readyz")

    assert response.status_code == 200
    body = Readiness.model_validate_json(response.content)
    assert (body.status, body.database, body.schema_ok) == ("ready", "ok", True)


def test_readyz_is_503_on_a_database_never_migrated(create_database: Callable[[], str]) -> None:
    with TestClient(create_app(make_settings(create_database()))) as client:
        response = client.get("/readyz")
        people = client.get("/people")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    body = Readiness.model_validate_json(response.content)
    assert (body.status, body.database, body.schema_ok) == ("unavailable", "ok", False)
    assert "never migrated" in body.detail
    assert "orm-models migrate" in body.detail
    # Requests get a 503 to retry too, rather than a 500 for a missing table.
    assert people.status_code == 503
    assert people.json() == {"detail": "database schema not ready"}


def _readiness(url: str) -> tuple[int, Readiness]:
    with TestClient(create_app(make_settings(url))) as client:
        response = client.get("/readyz")
    return response.status_code, Readiness.model_validate_json(response.content)


def test_readyz_while_a_contract_revision_is_held_back(create_database: Callable[[], str]) -> None:
    """1.x clients still live, so the contract 0003 waits: this 2.x service is ready all the same."""
    url = create_database()
    orm_models.migrate(url, "0002")  # 1.1.0's schema: last_name and family_name both there

    status, body = _readiness(url)

    assert status == 200, body
    assert body.schema_ok
    assert "every mapped column is there" in body.detail


def test_readyz_is_503_naming_what_an_old_schema_lacks(create_database: Callable[[], str]) -> None:
    url = create_database()
    orm_models.migrate(url, "0001")  # 1.0.0: no family_name yet

    status, body = _readiness(url)

    assert status == 503
    assert not body.schema_ok
    assert "missing person.family_name" in body.detail
    assert body.detail.endswith(f"run `orm-models migrate` (orm-models {orm_models.__version__} or newer)")
    assert body.detail == _guard_says(url)  # the loader's words too: both print orm-models' guard


def _guard_says(url: str) -> str:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as connection:
            return schema_problems(connection).message()
    finally:
        engine.dispose()


def test_readyz_says_upgrade_the_service_when_the_database_is_ahead(
    create_database: Callable[[], str],
) -> None:
    """A newer orm-models migrated and contracted the database: migrating cannot help, upgrading can."""
    url = create_database()
    orm_models.migrate(url)
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)
    with engine.begin() as connection:  # what a later release's contract does: a mapped column gone
        connection.execute(sqlalchemy.text("ALTER TABLE person DROP COLUMN given_name"))
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'from-a-newer-release'"))
    engine.dispose()

    status, body = _readiness(url)

    assert status == 503
    assert "missing person.given_name" in body.detail
    assert "a newer orm-models migrated it (revision from-a-newer-release)" in body.detail
    assert "move this service to an orm-models release that no longer maps them" in body.detail
    assert "run `orm-models migrate`" not in body.detail
    assert body.detail == _guard_says(url)


def test_version(seeded_client: TestClient) -> None:
    body = Version.model_validate_json(seeded_client.get("/version").content)

    assert body.service == "api-service"
    assert body.version
    assert body.orm_models_version == orm_models.__version__
    assert body.schema_revision == orm_models.head_revision()
    assert body.expected_schema_revision == orm_models.head_revision()
