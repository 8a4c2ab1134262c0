"""A sync that would delete more than `--max-delete` refuses, with the numbers; the data stays."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fingerprint, person_rows, write_csv
from pydantic import SecretStr
from sqlalchemy import Engine

from loader_service.config import Settings, get_settings
from loader_service.errors import EXIT_FAILED, MassDeleteError, SettingsError
from loader_service.limits import DeleteLimit
from loader_service.run import RunOptions, run_load


@pytest.fixture
def two_thousand(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> tuple[int, str]:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "all.csv", person_rows(2000)))))
    return fingerprint(migrated_engine)


def test_a_ten_row_source_over_two_thousand_people_is_refused_with_the_numbers(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, two_thousand: tuple[int, str]
) -> None:
    source = write_csv(tmp_path / "ten.csv", person_rows(10))

    with pytest.raises(MassDeleteError) as raised:
        run_load(settings, RunOptions(str(source)))

    assert str(raised.value).startswith(
        "would delete 1990 of 2000 people (99.5 %), limit 20 %; pass --max-delete 100% to allow"
    )
    assert raised.value.exit_code == EXIT_FAILED
    assert fingerprint(migrated_engine) == two_thousand


def test_the_limit_is_a_share_or_a_count_from_the_option_or_the_settings(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, two_thousand: tuple[int, str]
) -> None:
    source = str(write_csv(tmp_path / "most.csv", person_rows(1500)))  # deletes 500 = 25 %

    with pytest.raises(MassDeleteError, match=r"limit 499 people; pass --max-delete 500 to allow"):
        run_load(settings, RunOptions(source, max_delete="499"))
    with pytest.raises(MassDeleteError, match=r"\(25.0 %\), limit 24.5 %; pass --max-delete 25% to allow"):
        run_load(settings.model_copy(update={"max_delete": "24.5%"}), RunOptions(source))
    assert fingerprint(migrated_engine) == two_thousand

    assert run_load(settings, RunOptions(source, max_delete="25%")).deleted == 500


def test_within_the_default_limit_a_sync_deletes(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, two_thousand: tuple[int, str]
) -> None:
    summary = run_load(settings, RunOptions(str(write_csv(tmp_path / "p.csv", person_rows(1600)))))

    assert summary.deleted == 400  # exactly 20 %: allowed


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("20%", DeleteLimit(20, True)),
        (" 12.5 % ", DeleteLimit(12.5, True)),
        ("500", DeleteLimit(500, False)),
        (7, DeleteLimit(7, False)),
    ],
)
def test_limits_parse(text: str | int, limit: DeleteLimit) -> None:
    assert DeleteLimit.parse(text) == limit


@pytest.mark.parametrize("text", ["", "lots", "101%", "-5", "2.5", "%"])
def test_bad_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"percentage|whole number|at most 100"):
        DeleteLimit.parse(text)
    with pytest.raises(SettingsError, match=r"^bad settings: LOADER_MAX_DELETE: Value error"):
        get_settings(database_url=SecretStr("postgresql://h/db"), max_delete=text)


def test_the_cli_refuses_with_exit_1_and_takes_max_delete(
    database_url: str, migrated_engine: Engine, tmp_path: Path, two_thousand: tuple[int, str]
) -> None:
    source = str(write_csv(tmp_path / "ten.csv", person_rows(10)))
    env = {**os.environ, "DATABASE_URL": database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "loader_service", "run", "--source", source, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    refused = cli()
    assert refused.returncode == 1
    assert (
        "would delete 1990 of 2000 people (99.5 %), limit 20 %; pass --max-delete 100% to allow"
        in refused.stderr
    )
    assert fingerprint(migrated_engine) == two_thousand
    bad = cli("--max-delete", "lots")
    assert bad.returncode == 2
    assert "--max-delete: 'lots' is not a percentage" in bad.stderr

    allowed = cli("--max-delete", "100%")
    assert allowed.returncode == 0, allowed.stderr
    assert "deleted 1990" in allowed.stdout
