"""Every run registers with the client registry and refuses a schema it cannot serve (exit 4)."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import person_rows, write_csv
from pydantic import SecretStr

from loader_service.config import Settings
from loader_service.errors import EXIT_SCHEMA, SchemaRefusedError
from loader_service.run import RunOptions, run_load
from loader_service.startup import WRITTEN
from orm_models import migrate
from orm_models.guard import schema_problems
from orm_models.registry import Registration, registered_clients

CLI = str(Path(sys.executable).with_name("loader-service"))


def _registrations(url: str) -> list[Registration]:
    """The registry as orm-models reads it (per process before 2.5, per service and version since)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return registered_clients(connection)
    finally:
        engine.dispose()


def test_a_run_registers_what_it_writes(create_database: Callable[[], str], tmp_path: Path) -> None:
    url = create_database()
    migrate(url)
    settings = Settings(database_url=SecretStr(url), instance="nightly")
    source = str(write_csv(tmp_path / "people.csv", person_rows(3)))
    run_load(settings, RunOptions(source))
    run_load(settings, RunOptions(source))
    [registration] = _registrations(url)
    assert registration.service == "loader-service"
    assert registration.instance == "nightly"
    assert {"person.family_name", "organization.name"} <= set(registration.writes)


def test_the_expand_state_passes_the_guard(create_database: Callable[[], str], tmp_path: Path) -> None:
    """last_name is NOT NULL without a default and this loader never writes it: the bridge fills it."""
    url = create_database()
    migrate(url, "0002")
    assert migrate(url) == "0003"
    settings = Settings(database_url=SecretStr(url))
    assert run_load(settings, RunOptions(str(write_csv(tmp_path / "p.csv", person_rows(2))))).inserted == 2


@pytest.mark.parametrize(
    ("prepare", "named"),
    [
        ("missing", "person.family_name"),
        ("not null", "person.badge"),
    ],
)
def test_the_guard_refuses_with_one_line(
    create_database: Callable[[], str], tmp_path: Path, prepare: str, named: str
) -> None:
    url = create_database()
    if prepare == "missing":
        migrate(url, "0001")  # 1.0.0's schema: no family_name
    else:
        migrate(url)
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE person ADD COLUMN badge text NOT NULL"))
        engine.dispose()
    source = write_csv(tmp_path / "p.csv", person_rows(2))
    with pytest.raises(SchemaRefusedError) as refused:
        run_load(Settings(database_url=SecretStr(url)), RunOptions(str(source)))
    assert named in str(refused.value)
    assert "\n" not in str(refused.value)

    result = subprocess.run(
        [CLI, "run", "--source", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": url},
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_SCHEMA
    assert named in result.stderr
    assert "orm-models migrate" in result.stderr if prepare == "missing" else "not written" in result.stderr
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM person")).scalar_one() == 0
    engine.dispose()


@pytest.mark.parametrize("database", ["behind", "ahead"])
def test_the_refusal_gives_the_guards_advice_behind_or_ahead(
    create_database: Callable[[], str], tmp_path: Path, database: str
) -> None:
    """Behind: run `orm-models migrate`. Ahead (a newer orm-models contracted it): upgrade the
    loader. The words are orm-models' guard's, as the API's /readyz gives them."""
    url = create_database()
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    if database == "behind":
        migrate(url, "0001")  # 1.0.0's schema: no family_name
    else:
        migrate(url)
        with engine.begin() as connection:  # what a later release's contract does
            connection.execute(sa.text("ALTER TABLE person DROP COLUMN given_name"))
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'from-a-newer-release'"))
    with engine.connect() as connection:
        advice = schema_problems(connection, written=WRITTEN).message()
    engine.dispose()
    source = write_csv(tmp_path / "p.csv", person_rows(2))
    with pytest.raises(SchemaRefusedError) as refused:
        run_load(Settings(database_url=SecretStr(url)), RunOptions(str(source)))
    assert str(refused.value).startswith(advice)
    if database == "behind":
        assert "run `orm-models migrate`" in advice
    else:
        assert "move this service to an orm-models release that no longer maps them" in advice
        assert "run `orm-models migrate`" not in advice
