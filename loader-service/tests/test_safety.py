"""Review findings: rejects never cost a person their row, absent columns never NULL a column,
and a connection lost mid-run is the service's `DatabaseError` (the schedule goes on)."""

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import HEADER, fingerprint, people, person_rows, write_csv, write_jsonl
from sqlalchemy import Engine, text

from loader_service.config import Settings
from loader_service.errors import EXIT_FAILED, DatabaseError, SourceError
from loader_service.report import LogProgress
from loader_service.run import RunOptions, run_load
from loader_service.schedule import every


@pytest.fixture
def five(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> dict[str, dict[str, object]]:
    """Five people loaded by a previous sync."""
    run_load(settings, RunOptions(str(write_csv(tmp_path / "five.csv", person_rows(5)))))
    return people(migrated_engine)


# 1. A record rejected before its fields could be told apart still names its row.


def test_a_csv_row_with_a_stray_comma_keeps_its_person_in_sync(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, five: dict[str, dict[str, object]]
) -> None:
    source = write_csv(tmp_path / "stray.csv", person_rows(5))
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("Given2", "Given,2")  # p-00002: one field too many
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = run_load(settings, RunOptions(str(source), max_errors=1, rejects=tmp_path / "r.jsonl"))

    assert (summary.rejected, summary.deleted) == (1, 0)
    assert people(migrated_engine)["p-00002"] == five["p-00002"]


def test_a_jsonl_record_with_a_lone_surrogate_is_a_reject_that_keeps_its_person(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, five: dict[str, dict[str, object]]
) -> None:
    rows = person_rows(4)  # p-00004 is gone from the source: deleted as usual
    rows[2]["familyName"] = "\ud800"  # a lone surrogate: not storable text
    source = write_jsonl(tmp_path / "surrogate.jsonl", rows)

    summary = run_load(settings, RunOptions(str(source), max_errors=1, rejects=tmp_path / "r.jsonl"))

    assert (summary.rejected, summary.deleted) == (1, 1)
    assert "\\ud800" in (tmp_path / "r.jsonl").read_text(encoding="utf-8")  # written, not a crash
    after = people(migrated_engine)
    assert after["p-00002"] == five["p-00002"]
    assert "p-00004" not in after


@pytest.mark.parametrize("broken", ['{"id": "p-00002", "givenName": \n', '["p-00002", "Given2"]\n'])
def test_a_reject_without_a_recoverable_key_skips_the_delete_and_says_why(
    settings: Settings,
    migrated_engine: Engine,
    tmp_path: Path,
    five: dict[str, dict[str, object]],
    caplog: pytest.LogCaptureFixture,
    broken: str,
) -> None:
    rows = [row for row in person_rows(5) if row["id"] not in ("p-00002", "p-00004")]
    source = write_jsonl(tmp_path / "unkeyed.jsonl", rows)
    with source.open("a", encoding="utf-8") as handle:
        handle.write(broken)

    with caplog.at_level(logging.WARNING, logger="loader_service"):
        summary = run_load(settings, RunOptions(str(source), max_errors=1, rejects=tmp_path / "r.jsonl"))

    assert (summary.rejected, summary.deleted) == (1, 0)
    assert people(migrated_engine) == five  # p-00002 (whoever the broken record was) and p-00004 stay
    assert "event=delete_skipped" in caplog.text
    assert "deleting people missing from the source would be unsafe" in caplog.text


# 2. A mapped field absent from the source is an error, not NULL for everyone.


def test_a_csv_without_an_optional_column_is_refused(
    settings: Settings,
    migrated_engine: Engine,
    csv_file: Callable[..., Path],
    five: dict[str, dict[str, object]],
) -> None:
    before = fingerprint(migrated_engine)
    source = csv_file(person_rows(5), header=[name for name in HEADER if name != "familyName"])

    with pytest.raises(SourceError, match=r"missing column\(s\) familyName .*values of optional ones may be"):
        run_load(settings, RunOptions(str(source)))

    assert fingerprint(migrated_engine) == before


def test_jsonl_without_a_declared_key_in_any_record_is_refused(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, five: dict[str, dict[str, object]]
) -> None:
    before = fingerprint(migrated_engine)
    rows = [{key: value for key, value in row.items() if key != "familyName"} for row in person_rows(5)]

    with pytest.raises(SourceError, match=r"no record has the key\(s\) familyName"):
        run_load(settings, RunOptions(str(write_jsonl(tmp_path / "dropped.jsonl", rows))))

    assert fingerprint(migrated_engine) == before


def test_jsonl_key_absent_from_some_records_is_null_for_those(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, five: dict[str, dict[str, object]]
) -> None:
    rows = person_rows(5)
    del rows[1]["familyName"]

    summary = run_load(settings, RunOptions(str(write_jsonl(tmp_path / "some.jsonl", rows))))

    assert summary.updated == 1
    after = people(migrated_engine)
    assert after["p-00001"]["family_name"] is None
    assert after["p-00002"]["family_name"] == "Family2"


# 3. The database connection lost mid-run.


class _Terminating(LogProgress):
    """Kills the loader's server session when the run enters `phase`."""

    def __init__(self, engine: Engine, phase: str) -> None:
        super().__init__(3600)
        self._engine, self._phase = engine, phase

    def phase(self, name: str) -> None:
        super().phase(name)
        if name == self._phase:
            with self._engine.connect() as connection:
                killed = connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                        "WHERE application_name = 'loader-service' AND datname = current_database()"
                    )
                ).all()
            assert killed == [(True,)]


@pytest.mark.parametrize("phase", ["checking", "merging"])
def test_a_connection_lost_mid_run_is_a_database_error_and_changes_nothing(
    settings: Settings,
    migrated_engine: Engine,
    tmp_path: Path,
    five: dict[str, dict[str, object]],
    phase: str,
) -> None:
    source = write_csv(tmp_path / "v2.csv", person_rows(5, variant="-new"))

    with pytest.raises(DatabaseError, match="nothing was changed"):
        run_load(settings, RunOptions(str(source)), _Terminating(migrated_engine, phase))

    assert people(migrated_engine) == five
    # The next run works: the lock died with the session.
    assert run_load(settings, RunOptions(str(source))).updated == 5


class _TerminatingMidCopy(_Terminating):
    """Kills the loader's session while it streams records into staging (the COPY is open)."""

    def __init__(self, engine: Engine, after: int) -> None:
        super().__init__(engine, phase="")
        self._after, self._done = after, False

    def update(self, records: int) -> None:
        super().update(records)
        if records >= self._after and not self._done:
            self._done = True
            super().phase("")


def test_a_connection_lost_during_the_copy_names_no_record_and_changes_nothing(
    settings: Settings,
    migrated_engine: Engine,
    tmp_path: Path,
    five: dict[str, dict[str, object]],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PostgreSQL's FATAL for a session killed mid-COPY carries a CONTEXT line quoting the row it
    was reading: the service's error and logs keep to the first line, so no record's values leak."""
    rows = person_rows(6000, variant="-new")
    source = write_csv(tmp_path / "big.csv", rows)
    small_chunks = settings.model_copy(update={"batch_size": 500})

    with caplog.at_level(logging.DEBUG, logger="loader_service"), pytest.raises(DatabaseError) as lost:
        run_load(small_chunks, RunOptions(str(source)), _TerminatingMidCopy(migrated_engine, after=2000))

    assert "nothing was changed" in str(lost.value)
    assert "\n" not in str(lost.value)
    said = str(lost.value) + caplog.text + "".join(capsys.readouterr())
    leaked = [v for row in rows for v in (row["email"], row["familyName"]) if str(v) in said]
    assert leaked == []
    assert people(migrated_engine) == five


def test_the_schedule_logs_a_crashed_run_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def job() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return 0

    with caplog.at_level(logging.ERROR, logger="loader_service"):
        assert every(0.001, job, runs=2) == 0
    assert len(calls) == 2
    assert "event=run_failed" in caplog.text

    assert every(0.001, lambda: (_ for _ in ()).throw(RuntimeError("boom")), runs=1) == EXIT_FAILED
