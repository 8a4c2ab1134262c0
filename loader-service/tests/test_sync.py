"""Sync semantics: insert, update, delete-missing, stable ids, idempotent re-runs, append mode."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import fingerprint, people, person_rows, write_csv, write_jsonl
from sqlalchemy import Engine, text

from loader_service.config import Settings
from loader_service.errors import LoaderError
from loader_service.run import RunOptions, run_load


def test_first_load_inserts_people_and_their_organizations(
    settings: Settings, migrated_engine: Engine, csv_file: Callable[..., Path]
) -> None:
    summary = run_load(settings, RunOptions(str(csv_file(person_rows(10)))))

    assert (summary.read, summary.inserted, summary.updated, summary.deleted, summary.rejected) == (
        10,
        10,
        0,
        0,
        0,
    )
    assert summary.organizations_inserted == 3
    stored = people(migrated_engine)
    assert stored["p-00004"]["given_name"] == "Given4"
    assert stored["p-00004"]["org"] == "org-1"


def test_rerun_of_the_same_source_changes_nothing(
    settings: Settings, migrated_engine: Engine, csv_file: Callable[..., Path]
) -> None:
    source = str(csv_file(person_rows(10)))
    run_load(settings, RunOptions(source))
    before = people(migrated_engine)

    summary = run_load(settings, RunOptions(source))

    assert (summary.inserted, summary.updated, summary.deleted) == (0, 0, 0)
    assert people(migrated_engine) == before  # same ids, same updated_at: nothing rewritten


def test_changed_source_updates_inserts_and_deletes_keeping_ids(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "v1.csv", person_rows(10)))))
    before = people(migrated_engine)
    time.sleep(0.01)
    rows = person_rows(10)[1:] + person_rows(1, start=10)  # p-00000 gone, p-00010 new
    rows[0]["email"] = "changed@example.com"  # p-00001 changed

    summary = run_load(settings, RunOptions(str(write_csv(tmp_path / "v2.csv", rows))))

    assert (summary.inserted, summary.updated, summary.deleted) == (1, 1, 1)
    after = people(migrated_engine)
    assert "p-00000" not in after
    assert after["p-00010"]["given_name"] == "Given10"
    assert after["p-00001"]["email"] == "changed@example.com"
    assert after["p-00001"]["updated_at"] > before["p-00001"]["updated_at"]
    for key in ("p-00001", "p-00005", "p-00009"):
        assert after[key]["id"] == before[key]["id"]
    assert after["p-00005"] == before["p-00005"]


def test_append_mode_never_deletes(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "a.csv", person_rows(5)))))

    summary = run_load(
        settings, RunOptions(str(write_csv(tmp_path / "b.csv", person_rows(2, start=5))), mode="append")
    )

    assert (summary.inserted, summary.deleted) == (2, 0)
    assert len(people(migrated_engine)) == 7


def test_jsonl_and_gzip_sources_load_the_same_data(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    rows = person_rows(20)
    run_load(settings, RunOptions(str(write_csv(tmp_path / "p.csv.gz", rows))))
    expected = fingerprint(migrated_engine)

    for source in (write_jsonl(tmp_path / "p.jsonl", rows), write_jsonl(tmp_path / "p.jsonl.gz", rows)):
        summary = run_load(settings, RunOptions(str(source)))
        assert (summary.read, summary.inserted, summary.updated, summary.deleted) == (20, 0, 0, 0)
        assert fingerprint(migrated_engine) == expected


def test_values_needing_copy_escapes_round_trip(
    settings: Settings, migrated_engine: Engine, csv_file: Callable[..., Path]
) -> None:
    rows = person_rows(3)
    rows[0]["givenName"] = "Tab\there"
    rows[1]["familyName"] = 'Back\\slash "quoted", comma\nnewline'
    rows[2]["givenName"] = "  Zoë  "  # stripped, non-ASCII kept

    run_load(settings, RunOptions(str(csv_file(rows))))

    stored = people(migrated_engine)
    assert stored["p-00000"]["given_name"] == "Tab\there"
    assert stored["p-00001"]["family_name"] == 'Back\\slash "quoted", comma\nnewline'
    assert stored["p-00002"]["given_name"] == "Zoë"


def test_empty_optional_values_are_null_and_org_may_be_absent(
    settings: Settings, migrated_engine: Engine, csv_file: Callable[..., Path]
) -> None:
    rows = [{"id": "solo", "givenName": "Pelé", "familyName": "", "email": "", "org": "", "orgName": ""}]

    run_load(settings, RunOptions(str(csv_file(rows))))

    stored = people(migrated_engine)["solo"]
    assert (stored["family_name"], stored["email"], stored["org"]) == (None, None, None)


def test_rejected_record_keeps_its_existing_row_in_sync(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "v1.csv", person_rows(5)))))
    before = people(migrated_engine)
    rows = person_rows(5)
    rows[2]["email"] = "not-an-email"

    summary = run_load(
        settings,
        RunOptions(str(write_csv(tmp_path / "v2.csv", rows)), max_errors=1, rejects=tmp_path / "r.jsonl"),
    )

    assert (summary.rejected, summary.deleted, summary.updated) == (1, 0, 0)
    assert people(migrated_engine)["p-00002"] == before["p-00002"]


def test_duplicate_keys_in_the_source_are_rejected_first_one_wins(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    rows = person_rows(3)
    rows.append({**rows[0], "givenName": "Impostor"})
    rejects = tmp_path / "rejects.jsonl"

    summary = run_load(
        settings, RunOptions(str(write_csv(tmp_path / "d.csv", rows)), max_errors=5, rejects=rejects)
    )

    assert (summary.inserted, summary.rejected) == (3, 1)
    assert people(migrated_engine)["p-00000"]["given_name"] == "Given0"
    assert "duplicate id 'p-00000' (first at record 1)" in rejects.read_text()


@pytest.mark.parametrize("path", ["bulk", "merge"])
def test_a_duplicate_record_leaves_no_trace_on_either_path(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, path: str
) -> None:
    """The bulk path drops duplicates only once its build meets one: then it starts the build over,
    so a duplicate's organization is no more created than on the merge path, which drops them first."""
    rows = person_rows(3)
    rows.append({**rows[1], "givenName": "Impostor", "org": "org-stray", "orgName": "Stray"})
    summary = run_load(
        settings,
        RunOptions(
            str(write_csv(tmp_path / "d.csv", rows)),
            max_errors=5,
            rejects=tmp_path / "d.rejects.jsonl",
            load_path=path,  # type: ignore[arg-type]
        ),
    )
    assert (summary.inserted, summary.rejected, summary.organizations_inserted) == (3, 1, 3)
    assert people(migrated_engine)["p-00001"]["given_name"] == "Given1"
    with migrated_engine.connect() as connection:
        organizations: list[str] = list(
            connection.execute(text("SELECT external_id FROM organization ORDER BY 1")).scalars()
        )
    assert organizations == ["org-0", "org-1", "org-2"]


def test_sync_from_a_source_without_valid_records_is_refused(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "v1.csv", person_rows(5)))))
    before = fingerprint(migrated_engine)

    with pytest.raises(LoaderError, match="no valid records; refusing to sync"):
        run_load(settings, RunOptions(str(write_csv(tmp_path / "empty.csv", []))))

    assert fingerprint(migrated_engine) == before


def test_organization_name_changes_are_applied(
    settings: Settings, migrated_engine: Engine, csv_file: Callable[..., Path]
) -> None:
    run_load(settings, RunOptions(str(csv_file(person_rows(3)))))
    rows = person_rows(3)
    for row in rows:
        if row["org"] == "org-0":
            row["orgName"] = "Renamed"

    summary = run_load(settings, RunOptions(str(csv_file(rows, name="renamed.csv"))))

    assert (summary.organizations_updated, summary.updated) == (1, 0)
