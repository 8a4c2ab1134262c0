"""The Lambda entry point runs a load from its event, settings from the environment."""

from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import people, person_rows, write_csv
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.errors import RejectBudgetError
from loader_service.handler import handler


def test_handler_loads_from_an_event(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "p.csv", person_rows(6))

    result = handler({"source": str(source), "mode": "append"}, None, settings=settings)

    assert (result["read"], result["inserted"], result["mode"]) == (6, 6, "append")
    assert len(people(migrated_engine)) == 6
    assert (result["service"], result["service_version"]) == ("loader-service", version("loader-service"))


def test_handler_reads_settings_and_source_from_the_environment(
    database_url: str, migrated_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOADER_SOURCE", str(write_csv(tmp_path / "env.csv", person_rows(2))))

    result = handler({}, None)

    assert result["inserted"] == 2


def test_handler_failure_raises_and_writes_rejects_under_tmp(settings: Settings, tmp_path: Path) -> None:
    rows = person_rows(2)
    rows[0]["givenName"] = ""
    rejects = tmp_path / "rejects.jsonl"

    with pytest.raises(RejectBudgetError):
        handler(
            {"source": str(write_csv(tmp_path / "bad.csv", rows)), "rejects": str(rejects)},
            None,
            settings=settings,
        )

    assert rejects.exists()
