"""One line for every failure, `--json` always one JSON object, and no secret at any verbosity.

Every malformed `DATABASE_URL` and every URL form a provider hands out goes through the whole
start-up path (settings, registration, schema guard, load). Each case gets a canary secret of its
own, so a mask left over from another case cannot hide a leak.
"""

import json
import logging
import uuid
from pathlib import Path

import pytest
from conftest import person_rows, write_csv
from sqlalchemy.engine import make_url

from loader_service.__main__ import main
from loader_service.errors import EXIT_FAILED, EXIT_USAGE


def _canary() -> str:
    return f"Cx{uuid.uuid4().hex[:12]}"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env; rejects land here
    for name in ("LOADER_HTTP_RETRIES", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    database_url: str | None,
    *arguments: str,
) -> tuple[int, str, str, str]:
    """(exit status, stdout, stderr, log text) of `loader-service *arguments` in this process."""
    if database_url is not None:
        monkeypatch.setenv("DATABASE_URL", database_url)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        status = main(list(arguments))
    captured = capsys.readouterr()
    return status, captured.out, captured.err, caplog.text


MALFORMED = {
    "not a URL": "host=127.0.0.1 dbname=people password={secret}",
    "empty": "",
    "another database": "mysql://loader:{secret}@127.0.0.1/people",
    "another driver": "postgresql+asyncpg://loader:{secret}@127.0.0.1/people",
    "psycopg 3": "postgresql+psycopg://loader:{secret}@127.0.0.1/people",
    "port is no number": "postgresql://loader:{secret}@127.0.0.1:five/people",
    "port out of range": "postgresql://loader:{secret}@127.0.0.1:99999/people",
    "unencoded @ in the password": "postgresql://loader:p@{secret}@127.0.0.1/people",
    "unencoded @ and / in the password": "postgresql://loader:p@{secret}/x@127.0.0.1/people",
    "bracket left open": "postgresql://loader:{secret}@[::1/people",
    "no scheme": "loader:{secret}@127.0.0.1/people",
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_a_malformed_database_url_is_one_line_without_its_secret(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
    verbosity: list[str],
) -> None:
    secret = _canary()
    source = write_csv(in_tmp / "p.csv", person_rows(2))
    url = MALFORMED[case].format(secret=secret)

    status, out, err, logged = _cli(
        monkeypatch, capsys, caplog, url, *verbosity, "run", "--source", str(source), "--json"
    )

    assert status == EXIT_USAGE, err
    assert err.count("\n") == 1, err
    assert err.startswith("loader-service: bad settings: DATABASE_URL"), err
    assert json.loads(out) == {
        "ok": False,
        "error": err.removeprefix("loader-service: ").strip(),
        "exit_code": 2,
    }
    assert secret not in out + err + logged
    assert "Traceback" not in err + logged


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2", "POSTGRESQL"])
def test_every_postgresql_url_form_runs_the_whole_start_up_path(
    in_tmp: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    scheme: str,
) -> None:
    url = make_url(database_url).set(drivername=scheme.lower()).render_as_string(hide_password=False)
    url = url.replace(f"{scheme.lower()}://", f"{scheme}://", 1)
    source = write_csv(in_tmp / "p.csv", person_rows(3))

    status, out, err, logged = _cli(
        monkeypatch, capsys, caplog, url, "run", "--source", str(source), "--json"
    )

    assert status == 0, err
    summary = json.loads(out)
    assert (summary["ok"], summary["inserted"]) == (True, 3)
    assert "event=registered" in logged  # the start-up guard connected, through psycopg2
    assert "startup_check_skipped" not in logged


def test_an_unreachable_database_is_one_line_and_one_json_object(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = _canary()
    source = write_csv(in_tmp / "p.csv", person_rows(2))
    url = f"postgresql://loader:{secret}@127.0.0.1:9/people"

    status, out, err, logged = _cli(
        monkeypatch, capsys, caplog, url, "-vv", "run", "--source", str(source), "--json"
    )

    assert status == EXIT_FAILED
    assert err.count("\n") == 1, err
    assert "cannot connect to the database" in err
    assert json.loads(out)["ok"] is False
    assert secret not in out + err + logged


@pytest.mark.parametrize(
    "source",
    [
        "http://user:{secret}@127.0.0.1:1/people.csv?sig={secret}",  # refused connection, retried
        "http://user:p@{secret}@127.0.0.1:1/people.csv",  # unencoded @ in the password
        "http://user:{secret}@127.0.0.1:notaport/people.csv",  # not well formed
        "http://user:{secret}@[::1/people.csv",  # bracket left open
        "https://user:p {secret}@127.0.0.1:1/people.csv",  # a blank in the password
        "ftp://user:{secret}@127.0.0.1/people.csv",  # unsupported scheme
        "s3://user:{secret}@bucket/people.csv",  # userinfo where S3 has none
    ],
)
@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_a_source_url_secret_is_never_printed_even_malformed(
    in_tmp: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    source: str,
    verbosity: list[str],
) -> None:
    secret = _canary()
    monkeypatch.setenv("LOADER_HTTP_RETRIES", "1")
    monkeypatch.setenv("LOADER_HTTP_RETRY_WAIT", "0")
    for name, value in {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": f"{secret}key",
        "AWS_SESSION_TOKEN": f"{secret}token",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    status, out, err, logged = _cli(
        monkeypatch,
        capsys,
        caplog,
        database_url,
        *verbosity,
        "run",
        "--source",
        source.format(secret=secret),
        "--format",
        "csv",
        "--json",
    )

    assert status == EXIT_FAILED, err
    assert err.count("\n") == 1, err
    assert json.loads(out)["ok"] is False
    assert secret not in out + err + logged, (out, err, logged)
    assert not [path for path in in_tmp.iterdir() if secret in path.name]


def test_a_remembered_secret_is_masked_wherever_it_turns_up_even_outside_a_url() -> None:
    from loader_service.logs import Event
    from loader_service.redaction import remember_url, scrub

    secret = _canary()
    remember_url(f"postgresql://loader:p@{secret}/x@db.internal/people?sslpassword={secret}q")

    # How a parser that split at the first `@` would quote the rest of the password.
    quoted = f'could not translate host name "{secret}/x@db.internal" to address; sslpassword {secret}q'
    assert secret not in scrub(quoted)
    assert secret not in str(Event("registration_failed", {"reason": quoted}))
    assert scrub("no secret here, plain words stay") == "no secret here, plain words stay"
    # A user name and ordinary query values are no secrets: masking them would garble every line.
    remember_url("postgresql://postgres@/people?host=/tmp/sockets&sslmode=require")
    plain = "the user postgres is required to reach /tmp/sockets"
    assert scrub(plain) == plain


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--json"],
        ["run", "--json", "--source", "x.csv", "--mode", "Sync"],
        ["run", "--json", "--source"],
    ],
)
def test_a_usage_error_is_one_line_and_one_json_object(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    arguments: list[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        _cli(monkeypatch, capsys, caplog, None, *arguments)
    captured = capsys.readouterr()

    assert exited.value.code == EXIT_USAGE
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("loader-service: run: ")
    assert json.loads(captured.out)["ok"] is False
