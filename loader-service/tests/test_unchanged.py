"""The unchanged re-sync: skipped only when the source's bytes and the tables are as the last sync left them.

Each test drives real runs against the real database and changes the one thing the check must
notice (a row edited, deleted or added by someone else, an organization renamed, a writer whose
transaction began before the sync, another source, rejects, an explicit path, a file changed
while its digest is taken); the run after it must go the full way and repair, and the run after
that may be skipped again.
"""

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import fingerprint, person_rows, write_csv, write_jsonl
from pydantic import SecretStr

from loader_service.config import Settings
from loader_service.errors import SourceChangedError
from loader_service.report import Summary
from loader_service.run import RunOptions, run_load
from loader_service.sources import open_source
from orm_models import migrate


def _sync(
    settings: Settings, source: Path | str, caplog: pytest.LogCaptureFixture, **options: object
) -> tuple[str, Summary]:
    """Run a sync; return the path it logged (`unchanged`, `bulk` or `merge`) and its summary."""
    caplog.clear()
    summary = run_load(settings, RunOptions(str(source), max_delete="100%", **options))  # type: ignore[arg-type]
    [line] = [r.getMessage() for r in caplog.records if "event=load_path" in r.getMessage()]
    return line.split("path=", 1)[1].split(" ", 1)[0], summary


@pytest.fixture
def loaded(settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Path:
    """A source of 30 people, synced once."""
    caplog.set_level(logging.INFO, logger="loader_service")
    source = write_csv(tmp_path / "people.csv", person_rows(30))
    path, summary = _sync(settings, source, caplog)
    assert (path, summary.inserted) == ("bulk", 30)
    return source


def test_an_unchanged_source_over_unchanged_tables_is_not_read_again(
    settings: Settings, loaded: Path, migrated_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    before = fingerprint(migrated_engine)
    path, summary = _sync(settings, loaded, caplog)
    assert path == "unchanged"
    assert (summary.read, summary.inserted, summary.updated, summary.deleted, summary.rejected) == (
        30,
        0,
        0,
        0,
        0,
    )
    assert fingerprint(migrated_engine) == before
    # Nothing was staged or compared: the run never reached the merge's steps.
    assert not [r for r in caplog.records if "event=merge_step" in r.getMessage()]


DRIFT = {
    "a person edited": "UPDATE person SET given_name = 'Edited' WHERE external_id = 'p-00003'",
    "a person deleted": "DELETE FROM person WHERE external_id = 'p-00004'",
    "a person added": "INSERT INTO person (external_id, given_name) VALUES ('stranger', 'S')",
    "a row rewritten to the same values": "UPDATE person SET given_name = given_name WHERE id = 5",
    "an organization renamed": "UPDATE organization SET name = 'Renamed' WHERE external_id = 'org-1'",
    "an organization deleted (its people unlinked)": "DELETE FROM organization WHERE external_id = 'org-2'",
}


@pytest.mark.parametrize("change", DRIFT.values(), ids=DRIFT.keys())
def test_drift_since_the_last_sync_is_repaired_by_a_full_run(
    settings: Settings,
    loaded: Path,
    migrated_engine: sa.Engine,
    caplog: pytest.LogCaptureFixture,
    change: str,
) -> None:
    synced = fingerprint(migrated_engine)
    with migrated_engine.begin() as connection:
        connection.execute(sa.text(change))
    path, summary = _sync(settings, loaded, caplog)
    assert path != "unchanged"
    assert any("event=unchanged_check" in r.getMessage() for r in caplog.records)
    with migrated_engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT external_id, name FROM organization")).all()
    names: dict[str, str] = {row[0]: row[1] for row in rows}
    assert names == {f"org-{n}": f"Organization {n}" for n in range(3)}
    count, _ = fingerprint(migrated_engine)
    assert count == 30
    assert summary.read == 30
    if "deleted" not in change and "DELETE" not in change:
        assert fingerprint(migrated_engine) == synced  # ids kept: the very same rows
    # Repaired and recorded again: the next run is skipped.
    assert _sync(settings, loaded, caplog)[0] == "unchanged"


def test_a_writer_whose_transaction_began_before_the_sync_is_noticed(
    settings: Settings, loaded: Path, migrated_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Its transaction id is older than the sync's, yet it wrote after: the horizon tells it."""
    with migrated_engine.connect() as writer:
        writer.execute(sa.text("SELECT pg_current_xact_id()"))  # an id, taken before the sync starts
        with migrated_engine.begin() as connection:  # something for the sync to do, so it writes
            connection.execute(sa.text("UPDATE person SET email = NULL WHERE external_id = 'p-00001'"))
        assert _sync(settings, loaded, caplog)[0] == "merge"
        writer.execute(sa.text("UPDATE person SET family_name = 'Late' WHERE external_id = 'p-00002'"))
        writer.commit()
    path, summary = _sync(settings, loaded, caplog)
    assert (path, summary.updated) == ("merge", 1)
    assert _sync(settings, loaded, caplog)[0] == "unchanged"


def test_another_source_is_loaded_the_full_way(
    settings: Settings, loaded: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(loaded, person_rows(30, variant="-2"))  # same keys, every family name changed
    path, summary = _sync(settings, loaded, caplog)
    assert path != "unchanged"
    assert summary.updated == 30


def test_a_sync_with_rejects_is_never_skipped(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its rejects are reported (and written) by every run, so every run reads the source."""
    caplog.set_level(logging.INFO, logger="loader_service")
    rows = person_rows(10)
    rows[3]["email"] = "not an address"
    source = write_csv(tmp_path / "rejects.csv", rows)
    for _ in range(2):
        path, summary = _sync(settings, source, caplog, max_errors=5, rejects=tmp_path / "r.jsonl")
        assert path != "unchanged"
        assert summary.rejected == 1


def test_an_explicit_path_forces_the_full_run(
    settings: Settings, loaded: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _sync(settings, loaded, caplog, load_path="merge")[0] == "merge"
    assert _sync(settings, loaded, caplog, load_path="bulk")[0] == "bulk"
    assert _sync(settings, loaded, caplog)[0] == "unchanged"


def test_an_append_is_never_skipped_and_forgets_the_last_sync(
    settings: Settings, loaded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _sync(settings, loaded, caplog, mode="append")[0] != "unchanged"
    assert _sync(settings, loaded, caplog)[0] != "unchanged"
    assert _sync(settings, loaded, caplog)[0] == "unchanged"


def test_the_same_records_in_another_format_are_another_load(
    settings: Settings, loaded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jsonl = write_jsonl(tmp_path / "people.jsonl", person_rows(30))
    assert _sync(settings, jsonl, caplog)[0] != "unchanged"
    assert _sync(settings, jsonl, caplog)[0] == "unchanged"


def test_a_file_changed_while_its_digest_is_taken_is_refused(settings: Settings, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "people.csv", person_rows(5))
    with open_source(str(source), settings) as opened:
        with source.open("a") as handle:
            handle.write("p-9,Late,Comer,,,\n")
        with pytest.raises(SourceChangedError, match="the source changed while it was read"):
            opened.digest_ahead()


def test_a_url_is_read_every_time(
    settings: Settings, http_server: tuple[str, Path, dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    """Its digest would take a second download: no check, the full run (which is correct anyway)."""
    caplog.set_level(logging.INFO, logger="loader_service")
    base, served, _ = http_server
    write_csv(served / "people.csv", person_rows(10))
    for _ in range(2):
        assert _sync(settings, f"{base}/people.csv", caplog)[0] != "unchanged"


def test_a_role_that_may_not_create_the_record_still_syncs_in_full(
    create_database: Callable[[], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No CREATE on the database: every sync runs in full and says why; once an administrator
    creates the schema for the role, the unchanged re-sync is skipped."""
    url = create_database()
    migrate(url)
    role = f"loader_limited_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(
            sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        )
        connection.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    limited = Settings(
        database_url=SecretStr(sa.make_url(url).set(username=role).render_as_string(hide_password=False))
    )
    caplog.set_level(logging.INFO, logger="loader_service")
    source = write_csv(tmp_path / "people.csv", person_rows(10))
    for expected in (10, 0):
        path, summary = _sync(limited, source, caplog)
        assert (path, summary.inserted) == ("merge", expected)  # not the owner: no swap either
        assert any("event=sync_state_unavailable" in r.getMessage() for r in caplog.records)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA loader_service AUTHORIZATION {role}"))
    assert _sync(limited, source, caplog)[0] == "merge"
    assert _sync(limited, source, caplog)[0] == "unchanged"
    with admin.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA loader_service CASCADE"))
        connection.execute(sa.text(f"DROP OWNED BY {role}"))
        connection.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()
