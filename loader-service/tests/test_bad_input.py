"""Every kind of bad input: a clear message, the rejects file, and the previous data untouched."""

import gzip
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import fingerprint, person_rows, write_csv, write_jsonl
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.errors import LoaderError, RejectBudgetError, SourceError
from loader_service.run import RunOptions, run_load


@pytest.fixture
def loaded(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> tuple[int, str]:
    """A previous complete dataset; each test asserts it survives."""
    run_load(settings, RunOptions(str(write_csv(tmp_path / "good.csv", person_rows(8)))))
    return fingerprint(migrated_engine)


def _fails(settings: Settings, options: RunOptions, error: type[LoaderError], match: str) -> str:
    with pytest.raises(error, match=match) as raised:
        run_load(settings, options)
    return str(raised.value)


def test_invalid_records_past_the_budget_abort_with_record_field_and_reason(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    rows = person_rows(8, variant="-new")
    rows[1]["email"] = "nobody-at-example"
    rows[3]["givenName"] = "   "
    rows[5]["id"] = "x" * 65
    rejects = tmp_path / "rejects.jsonl"

    message = _fails(
        settings,
        RunOptions(str(write_csv(tmp_path / "bad.csv", rows)), max_errors=2, rejects=rejects),
        RejectBudgetError,
        "3 invalid record",
    )

    assert "record 2: email: is not an email address" in message
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(line["record"], line["errors"][0]["field"]) for line in lines] == [
        (2, "email"),
        (4, "givenName"),
        (6, "id"),
    ]
    assert lines[1]["errors"][0]["reason"] == "is required"
    assert "at most 64 characters" in lines[2]["errors"][0]["reason"]
    assert lines[0]["data"]["email"] == "nobody-at-example"  # the record as read, to fix and reload
    assert fingerprint(migrated_engine) == loaded


def test_records_within_the_budget_are_reported_and_the_rest_loads(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    rows = person_rows(8)
    rows[0]["email"] = "broken"
    rejects = tmp_path / "rejects.jsonl"

    summary = run_load(
        settings, RunOptions(str(write_csv(tmp_path / "one-bad.csv", rows)), max_errors=1, rejects=rejects)
    )

    assert (summary.read, summary.rejected, summary.rejects_file) == (8, 1, str(rejects))
    assert json.loads(rejects.read_text())["record"] == 1


def test_strict_by_default_one_invalid_record_aborts(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    rows = person_rows(8, variant="-new")
    rows[7]["givenName"] = ""
    _fails(
        settings,
        RunOptions(str(write_csv(tmp_path / "bad.csv", rows)), rejects=tmp_path / "r"),
        RejectBudgetError,
        "max-errors 0",
    )
    assert fingerprint(migrated_engine) == loaded


def test_broken_jsonl_lines_are_rejects_not_crashes(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    source = write_jsonl(tmp_path / "p.jsonl", person_rows(3))
    with source.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "p-9", "givenName": \n[1, 2]\n{"id": "p-10", "givenName": null}\n')
    rejects = tmp_path / "r.jsonl"

    _fails(settings, RunOptions(str(source), max_errors=2, rejects=rejects), RejectBudgetError, "3 invalid")

    reasons = [json.loads(line)["errors"][0] for line in rejects.read_text().splitlines()]
    assert "is not valid JSON" in reasons[0]["reason"]
    assert reasons[1]["reason"] == "is a JSON list, not an object"
    assert reasons[2] == {"field": "givenName", "reason": "is required"}
    assert fingerprint(migrated_engine) == loaded


def test_nul_characters_are_rejected(settings: Settings, tmp_path: Path, loaded: tuple[int, str]) -> None:
    rows = person_rows(2)
    rows[1]["familyName"] = "nul\x00byte"
    message = _fails(
        settings,
        RunOptions(str(write_jsonl(tmp_path / "n.jsonl", rows)), rejects=tmp_path / "r"),
        RejectBudgetError,
        "invalid record",
    )
    assert "record 2: familyName: contains a NUL character" in message


def test_wrong_encoding(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes("id,givenName,familyName,email,org,orgName\np-1,Ren\xe9,,,,\n".encode("latin-1"))

    _fails(
        settings,
        RunOptions(str(source)),
        SourceError,
        r"at record 1, byte offset 49: not valid utf-8.*byte 0xe9.*LOADER_ENCODING",
    )

    assert fingerprint(migrated_engine) == loaded


def test_truncated_gzip(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    whole = write_csv(tmp_path / "whole.csv.gz", person_rows(2000, variant="-new")).read_bytes()
    source = tmp_path / "cut.csv.gz"
    source.write_bytes(whole[: len(whole) // 2])

    _fails(settings, RunOptions(str(source)), SourceError, "broken or truncated gzip")

    assert fingerprint(migrated_engine) == loaded


def test_corrupt_gzip(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    source = tmp_path / "corrupt.csv.gz"
    source.write_bytes(gzip.compress(b"id,givenName\np-1,Ada\n")[:12] + b"\x00garbage" * 10)

    _fails(settings, RunOptions(str(source)), SourceError, "broken or truncated gzip")

    assert fingerprint(migrated_engine) == loaded


def test_missing_column(
    settings: Settings, migrated_engine: Engine, csv_file: Callable[..., Path], loaded: tuple[int, str]
) -> None:
    source = csv_file(person_rows(3), header=["id", "first_name", "email"])

    _fails(
        settings,
        RunOptions(str(source)),
        SourceError,
        r"missing column\(s\) givenName, familyName, org, orgName \(header has: id, first_name, email\)",
    )

    assert fingerprint(migrated_engine) == loaded


def test_malformed_csv(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    source = tmp_path / "quote.csv"
    header = "id,givenName,familyName,email,org,orgName"
    source.write_text(f'{header}\np-1,Ada,,,,\np-2,"Grace\n', encoding="utf-8")

    _fails(settings, RunOptions(str(source)), SourceError, "at record 2: malformed CSV")

    assert fingerprint(migrated_engine) == loaded


def test_missing_file_and_unknown_format(settings: Settings, tmp_path: Path, loaded: tuple[int, str]) -> None:
    _fails(settings, RunOptions(str(tmp_path / "nope.csv")), SourceError, "no such file")
    _fails(settings, RunOptions(str(tmp_path / "people.xlsx")), SourceError, "pass --format")


def test_unreachable_url(settings: Settings, migrated_engine: Engine, loaded: tuple[int, str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    _fails(
        settings,
        RunOptions(f"http://127.0.0.1:{port}/people.csv"),
        SourceError,
        r"cannot reach the server.*after 3 attempts",
    )

    assert fingerprint(migrated_engine) == loaded


def test_http_errors(
    settings: Settings,
    migrated_engine: Engine,
    loaded: tuple[int, str],
    http_server: tuple[str, Path, dict[str, int]],
) -> None:
    base, _, hits = http_server

    _fails(settings, RunOptions(f"{base}/status/404/people.csv"), SourceError, "HTTP 404 Not Found")
    assert hits["/status/404/people.csv"] == 1  # a client error is not retried
    _fails(settings, RunOptions(f"{base}/status/500/people.csv"), SourceError, r"HTTP 500 .*after 3 attempts")
    assert hits["/status/500/people.csv"] == 3

    assert fingerprint(migrated_engine) == loaded


def test_url_credentials_and_query_are_never_printed(settings: Settings, loaded: tuple[int, str]) -> None:
    message = _fails(
        settings,
        RunOptions("http://user:hunter2@127.0.0.1:9/people.csv?token=s3cr3t"),
        SourceError,
        "cannot reach",
    )
    assert "hunter2" not in message
    assert "s3cr3t" not in message
