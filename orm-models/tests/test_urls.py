"""`postgresql://`, `postgres://` and `postgresql+psycopg2://` reach the server everywhere in orm-models.

SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which is not installed, and does not
know `postgres://`: each form is tried on the CLI, `migrate()`, the test fixtures and env.py.
"""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from orm_models import head_revision, migrate
from orm_models.testing.postgres import running_postgres
from orm_models.urls import database_url

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]
FORMS = ["postgresql", "postgres", "postgresql+psycopg2"]


def _as(form: str, url: str) -> str:
    """`url` written with the scheme `form`, as a hosting provider would hand it out."""
    return make_url(url).set(drivername=form).render_as_string(hide_password=False)


@pytest.mark.parametrize("form", FORMS)
def test_each_form_maps_to_psycopg2_and_keeps_the_rest(form: str) -> None:
    url = database_url(f"{form}://app:pw@db.internal:6432/people?sslmode=require")
    assert url.drivername == "postgresql+psycopg2"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "app",
        "pw",
        "db.internal",
        6432,
        "people",
    )
    assert dict(url.query) == {"sslmode": "require"}


def test_an_explicit_other_driver_is_left_as_written() -> None:
    assert database_url("postgresql+psycopg://db/app").drivername == "postgresql+psycopg"
    assert database_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize("bad", ["nonsense", "postgresql://app:s3cret-pw@db:port/app", ""])
def test_a_bad_url_is_a_value_error_that_never_repeats_it(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid database URL") as raised:
        database_url(bad)
    assert "s3cret-pw" not in str(raised.value)


@pytest.mark.parametrize("form", FORMS)
def test_migrate_accepts_each_form(form: str, create_database: Callable[[], str]) -> None:
    url = create_database()
    assert migrate(_as(form, url)) is None
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert (
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        )
    engine.dispose()


@pytest.mark.parametrize("form", FORMS)
def test_cli_accepts_each_form(form: str, migrated_url: str) -> None:
    result = subprocess.run(
        [str(BIN / "orm-models"), "current", "--database-url", _as(form, migrated_url)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == head_revision()


@pytest.mark.parametrize("form", FORMS)
def test_fixtures_accept_each_form_in_database_url(
    form: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`running_postgres` (behind the `postgres_url` fixture) hands out a URL that connects."""
    monkeypatch.setenv("DATABASE_URL", _as(form, postgres_url))
    with running_postgres() as url:
        assert make_url(url).drivername == "postgresql+psycopg2"
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
        engine.dispose()


def test_alembic_command_in_the_checkout_reads_database_url(migrated_url: str) -> None:
    """`[tool.alembic]` in pyproject.toml + env.py: the plain `alembic` command, on `postgres://`."""
    result = subprocess.run(
        [str(BIN / "alembic"), "current"],
        cwd=PROJECT,
        env={**os.environ, "DATABASE_URL": _as("postgres", migrated_url)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{head_revision()} (head)" in result.stdout
