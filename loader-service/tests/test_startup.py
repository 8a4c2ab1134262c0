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
from orm_models import migrate

CLI = str(Path(sys.executable).with_name("loader-service"))


def _registrations(url: str) -> list[sa.Row[tuple[str, str, list[str]]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT service, instance, writes FROM schema_client ORDER BY instance"
            return list(connection.execute(sa.text(query)).all())
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
