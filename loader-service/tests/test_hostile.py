"""Hostile input in bounded memory: an endless source, overlong lines and fields, and encoding
errors that name the record holding the bad byte and its offset."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fingerprint, people, person_rows, write_csv, write_jsonl
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.errors import RejectBudgetError, SourceError
from loader_service.run import RunOptions, run_load

# Runs the loader as a child and reports the child's peak RSS: RUSAGE_CHILDREN of this
# wrapper covers the loader alone, not every process the test session ever started.
_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(peak_kib, done.returncode)
print(done.stderr, file=sys.stderr)
"""


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_dev_zero_ends_with_an_error_in_bounded_memory(
    database_url: str, tmp_path: Path, format: str
) -> None:
    # /dev/zero is one endless line of NULs: no record size limit can delimit it.
    loader = [sys.executable, "-m", "loader_service", "run", "--source", "/dev/zero", "--format", format]
    env = {**os.environ, "DATABASE_URL": database_url}

    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *loader],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=150,
        check=True,
    )

    peak_kib, status = (int(part) for part in done.stdout.split())
    assert status == 1, done.stderr
    assert "/dev/zero: at byte offset 0: no line end within 16," in done.stderr
    assert (
        "LOADER_MAX_RECORD_BYTES); this does not look like CSV or JSON Lines. Nothing was changed"
        in done.stderr
    )
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib / 1024:.0f} MB"
    print(f"{format}: peak RSS {peak_kib / 1024:.0f} MB")


@pytest.fixture
def loaded(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> tuple[int, str]:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "good.csv", person_rows(8)))))
    return fingerprint(migrated_engine)


def test_an_overlong_jsonl_line_is_a_per_record_reject(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    rows = person_rows(8, variant="-new")
    rows[3]["familyName"] = "x" * (2 << 20)  # a 2 MiB line, delimited by its newline
    rejects = tmp_path / "r.jsonl"

    summary = run_load(
        settings, RunOptions(str(write_jsonl(tmp_path / "long.jsonl", rows)), max_errors=1, rejects=rejects)
    )

    assert (summary.read, summary.updated, summary.rejected, summary.deleted) == (8, 7, 1, 0)
    reject = json.loads(rejects.read_text())
    assert reject["record"] == 4
    assert reject["errors"][0]["reason"].startswith(
        "is longer than the maximum record size (1,048,576 bytes)"
    )
    assert people(migrated_engine)["p-00003"]["family_name"] == "Family3"  # kept, not deleted


def test_an_overlong_csv_record_is_a_reject_and_the_limit_is_a_setting(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    rows = person_rows(8, variant="-new")
    rows[2]["orgName"] = "y" * 5000
    source = write_csv(tmp_path / "long.csv", rows)
    rejects = tmp_path / "r.jsonl"
    small = settings.model_copy(update={"max_record_bytes": 4096})

    with pytest.raises(
        RejectBudgetError, match=r"record 3: \(record\): is longer than the maximum record size \(4,096"
    ):
        run_load(small, RunOptions(str(source), rejects=rejects))
    assert fingerprint(migrated_engine) == loaded

    summary = run_load(small, RunOptions(str(source), max_errors=1, rejects=rejects))
    assert (summary.updated, summary.rejected) == (7, 1)


def test_a_csv_field_over_the_csv_modules_limit_is_a_per_record_reject(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str]
) -> None:
    rows = person_rows(8, variant="-new")
    rows[5]["givenName"] = "z" * 200_000  # csv's default field_size_limit is 131,072
    rejects = tmp_path / "r.jsonl"

    summary = run_load(
        settings, RunOptions(str(write_csv(tmp_path / "wide.csv", rows)), max_errors=1, rejects=rejects)
    )

    assert (summary.updated, summary.rejected) == (7, 1)
    assert json.loads(rejects.read_text())["errors"] == [
        {"field": "givenName", "reason": "String should have at most 100 characters"}
    ]


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_an_encoding_error_names_the_record_holding_the_bad_byte_and_its_offset(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, loaded: tuple[int, str], format: str
) -> None:
    rows = person_rows(500, variant="-new")
    rows[299]["familyName"] = "Ren@"
    source = (
        write_csv(tmp_path / "x.csv", rows) if format == "csv" else write_jsonl(tmp_path / "x.jsonl", rows)
    )
    data = source.read_bytes().replace(b"Ren@", b"Ren\xe9")  # latin-1 é: not UTF-8
    source.write_bytes(data)
    offset = data.index(b"\xe9")

    with pytest.raises(SourceError) as raised:
        run_load(settings, RunOptions(str(source)))

    message = str(raised.value)
    assert f"at record 300, byte offset {offset}: not valid utf-8" in message
    assert "(invalid continuation byte, byte 0xe9)" in message
    assert fingerprint(migrated_engine) == loaded
