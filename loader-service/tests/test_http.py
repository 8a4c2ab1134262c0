"""URL sources against a real HTTP server on 127.0.0.1: plain, gzip, retried after 503s."""

from pathlib import Path

from conftest import fingerprint, person_rows, write_csv, write_jsonl
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.run import RunOptions, run_load


def test_csv_over_http(
    settings: Settings, migrated_engine: Engine, http_server: tuple[str, Path, dict[str, int]]
) -> None:
    base, served, _ = http_server
    write_csv(served / "people.csv", person_rows(50))

    summary = run_load(settings, RunOptions(f"{base}/people.csv"))

    assert (summary.read, summary.inserted) == (50, 50)


def test_gzip_jsonl_over_http_matches_the_local_file(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, http_server: tuple[str, Path, dict[str, int]]
) -> None:
    base, served, _ = http_server
    rows = person_rows(30)
    run_load(settings, RunOptions(str(write_csv(tmp_path / "local.csv", rows))))
    expected = fingerprint(migrated_engine)
    write_jsonl(served / "people.jsonl.gz", rows)

    summary = run_load(settings, RunOptions(f"{base}/people.jsonl.gz"))

    assert (summary.inserted, summary.updated, summary.deleted) == (0, 0, 0)
    assert fingerprint(migrated_engine) == expected


def test_transient_server_errors_are_retried(
    settings: Settings, migrated_engine: Engine, http_server: tuple[str, Path, dict[str, int]]
) -> None:
    base, served, hits = http_server
    write_csv(served / "people.csv", person_rows(5))

    summary = run_load(settings, RunOptions(f"{base}/flaky/2/people.csv", format="csv"))

    assert summary.inserted == 5
    assert hits["/flaky/2/people.csv"] == 3
