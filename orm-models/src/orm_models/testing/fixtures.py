"""pytest fixtures on a real PostgreSQL. Enable with `pytest_plugins = ["orm_models.testing.fixtures"]`.

- `postgres_url`: one server per test session (`DATABASE_URL`, or embedded).
- `create_database`: a factory of fresh, empty databases on that server.
- `migrated_url`: a database migrated to head once per session.
- `db_session`: a Session whose work is rolled back after each test.
"""

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from orm_models.migrate import migrate
from orm_models.testing.postgres import running_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def create_database(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Return a function that creates an empty database and gives its URL; all are dropped at the end."""
    created: list[str] = []
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def create() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_url(create_database: Callable[[], str]) -> str:
    url = create_database()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def migrated_engine(migrated_url: str) -> Iterator[Engine]:
    engine = create_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back: tests never see each other's rows."""
    with migrated_engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()
