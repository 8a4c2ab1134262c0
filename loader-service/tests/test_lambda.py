"""The Lambda handler for real: a validated event, s3:// sources from a local S3 (moto in server
mode on 127.0.0.1, no network), rejects next to the source in S3 or in the log, one-line errors."""

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from conftest import fingerprint, people, person_rows, write_csv
from moto.server import ThreadedMotoServer
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.errors import (
    EventError,
    RejectBudgetError,
    SettingsError,
    SourceChangedError,
    SourceError,
)
from loader_service.handler import handler
from loader_service.logs import Event
from loader_service.report import LogProgress
from loader_service.run import RunOptions, run_load

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "exports"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> "S3Client":
    """A client of the local S3, with the environment the loader's boto3 reads (as on Lambda)."""
    for name, value in {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _put(s3: "S3Client", key: str, path: Path) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    return f"s3://{BUCKET}/{key}"


def test_an_s3_source_loads_and_its_rejects_land_next_to_it(
    settings: Settings, migrated_engine: Engine, s3: "S3Client", tmp_path: Path
) -> None:
    rows = person_rows(50)
    rows[7]["email"] = "not-an-email"
    source = _put(s3, "daily/people.csv.gz", write_csv(tmp_path / "people.csv.gz", rows))

    result = handler({"source": source, "mode": "sync", "max_errors": 1}, None, settings=settings)

    assert (result["read"], result["inserted"], result["rejected"]) == (50, 49, 1)
    assert result["rejects_file"] == f"s3://{BUCKET}/daily/people.rejects.jsonl"
    body = s3.get_object(Bucket=BUCKET, Key="daily/people.rejects.jsonl")["Body"].read()
    assert json.loads(body)["errors"] == [
        {"field": "email", "reason": "is not an email address: An email address must have an @-sign."}
    ]
    assert len(people(migrated_engine)) == 49


def test_a_failed_run_still_puts_its_rejects_in_s3(
    settings: Settings, s3: "S3Client", tmp_path: Path
) -> None:
    rows = person_rows(5)
    rows[1]["givenName"] = ""
    source = _put(s3, "bad.csv", write_csv(tmp_path / "bad.csv", rows))

    with pytest.raises(RejectBudgetError):
        handler({"source": source}, None, settings=settings)

    assert b'"givenName"' in s3.get_object(Bucket=BUCKET, Key="bad.rejects.jsonl")["Body"].read()


def test_the_minimal_event_with_jsonl_gzip_from_s3(
    settings: Settings, migrated_engine: Engine, s3: "S3Client", tmp_path: Path
) -> None:
    lines = "".join(json.dumps(row) + "\n" for row in person_rows(20)).encode()
    s3.put_object(Bucket=BUCKET, Key="p.jsonl.gz", Body=gzip.compress(lines))

    result = handler({"source": f"s3://{BUCKET}/p.jsonl.gz", "mode": "sync"}, None, settings=settings)

    assert result["inserted"] == 20


def test_s3_errors_are_one_clear_line(settings: Settings, s3: "S3Client", migrated_engine: Engine) -> None:
    with pytest.raises(SourceError, match=rf"^s3://{BUCKET}/missing.csv: no such object$"):
        handler({"source": f"s3://{BUCKET}/missing.csv"}, None, settings=settings)
    with pytest.raises(SourceError, match=r"^s3://nobucket/x.csv: no such bucket$"):
        handler({"source": "s3://nobucket/x.csv"}, None, settings=settings)


def test_an_s3_object_overwritten_while_read_is_refused(
    settings: Settings, migrated_engine: Engine, s3: "S3Client", tmp_path: Path
) -> None:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "v1.csv", person_rows(100)))))
    before = fingerprint(migrated_engine)
    source = _put(s3, "big.csv", write_csv(tmp_path / "big.csv", person_rows(100, variant="-new")))

    class Overwrite(LogProgress):
        def phase(self, name: str) -> None:
            if name == "checking":  # read to the end; the export job writes a new version now
                s3.put_object(Bucket=BUCKET, Key="big.csv", Body=b"id,givenName\n")

    with pytest.raises(SourceChangedError, match=r"changed while it was read \(read \d+ of \d+ bytes; ETag"):
        run_load(settings, RunOptions(source), Overwrite(3600))
    assert fingerprint(migrated_engine) == before


def test_without_s3_the_rejects_go_to_the_log_in_full(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = person_rows(30)
    for index in range(25):  # more than the 20 a file-backed run echoes
        rows[index]["email"] = f"broken-{index}"
    source = write_csv(tmp_path / "local.csv", rows)

    with caplog.at_level(logging.WARNING, logger="loader_service"):
        result = handler({"source": str(source), "max_errors": 25}, None, settings=settings)

    assert result["rejected"] == 25
    assert result["rejects_file"] is None
    logged = [
        json.loads(str(r.msg.fields["line"]))
        for r in caplog.records
        if isinstance(r.msg, Event) and "line" in r.msg.fields
    ]
    assert [line["record"] for line in logged] == list(range(1, 26))
    assert logged[24]["data"]["email"] == "broken-24"
    assert list(tmp_path.iterdir()) == [source]  # nothing left only on local disk


def test_a_bad_event_lists_every_problem(settings: Settings) -> None:
    event: dict[str, Any] = {
        "source": "s3://b/k.csv",
        "mode": "Sync",
        "max_errors": "ten",
        "max_delete": "lots",
        "lock_timeout": -1,
        "sourec": "typo",
    }

    with pytest.raises(EventError) as raised:
        handler(event, None, settings=settings)

    message = str(raised.value)
    assert message.startswith("bad event (5 problem(s)): ")
    for problem in (
        "mode: Input should be 'sync' or 'append'",
        "max_errors: Input should be a valid integer",
        "max_delete: Value error, 'lots' is not a percentage",
        "lock_timeout: Input should be greater than or equal to 0",
        "sourec: Extra inputs are not permitted",
    ):
        assert problem in message
    assert raised.value.exit_code == 2


def test_missing_database_url_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here

    with pytest.raises(SettingsError) as raised:
        handler({"source": "s3://b/k.csv", "mode": "sync"}, None)

    assert (
        str(raised.value) == "bad settings: DATABASE_URL is not set (the database's postgresql+psycopg2 URL)"
    )
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__  # no pydantic traceback chained to it
