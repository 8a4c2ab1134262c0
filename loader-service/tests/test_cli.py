"""The console script as users run it: summary, exit statuses, schedule, generator, secrets."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import fingerprint, people, person_rows, write_csv
from sqlalchemy import Engine


def _run(
    *args: str, database_url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "loader_service", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_shipped_sample_loads_and_prints_the_summary(database_url: str, migrated_engine: Engine) -> None:
    sample = _run("sample").stdout.strip()

    result = _run("run", "--source", sample, database_url=database_url)

    assert result.returncode == 0, result.stderr
    assert "read 40, inserted 40, updated 0, deleted 0, rejected 0" in result.stdout
    assert "rows/s" in result.stdout
    assert "event=summary" in result.stderr  # not a terminal: structured log lines
    assert len(people(migrated_engine)) == 40


def test_json_summary(database_url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "p.csv", person_rows(4))

    result = _run("run", "--source", str(source), "--json", database_url=database_url)

    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("read", "inserted", "updated", "deleted", "rejected")} == {
        "read": 4,
        "inserted": 4,
        "updated": 0,
        "deleted": 0,
        "rejected": 0,
    }
    assert summary["seconds"] > 0
    assert summary["rows_per_second"] > 0


def test_bad_input_exits_non_zero_with_a_clear_message(
    database_url: str, migrated_engine: Engine, tmp_path: Path
) -> None:
    good = write_csv(tmp_path / "good.csv", person_rows(4))
    assert _run("run", "--source", str(good), database_url=database_url).returncode == 0
    before = fingerprint(migrated_engine)
    rows = person_rows(4, variant="-x")
    rows[2]["email"] = "@"
    bad = write_csv(tmp_path / "bad.csv", rows)

    result = _run("run", "--source", str(bad), "--max-errors", "0", database_url=database_url, cwd=tmp_path)

    assert result.returncode == 1
    assert "record 3: email: is not an email address" in result.stderr
    assert "exceed --max-errors 0" in result.stderr
    assert (tmp_path / "bad.rejects.jsonl").exists()  # default rejects file, next to where it ran
    assert fingerprint(migrated_engine) == before


def test_every_runs_on_a_schedule(database_url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "p.csv", person_rows(3))

    result = _run(
        "run", "--source", str(source), "--every", "100ms", "--runs", "2", database_url=database_url
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("loader-service: sync of") == 2
    assert "inserted 0" in result.stdout.splitlines()[1]


def test_missing_database_url_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("run", "--source", "x.csv", cwd=tmp_path)

    assert result.returncode == 2
    assert (
        result.stderr
        == "loader-service: bad settings: DATABASE_URL is not set (the database's postgresql+psycopg2 URL)\n"
    )


def test_the_database_password_is_never_printed(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "p.csv", person_rows(1))
    with_password = "postgresql+psycopg2://loader:Sup3rS3cret@127.0.0.1:9/nowhere"

    result = _run("run", "--source", str(source), database_url=with_password)

    assert result.returncode == 1
    # The user name goes too: every URL's userinfo is scrubbed from what is printed.
    assert "cannot connect to the database postgresql+psycopg2://127.0.0.1:9/nowhere" in result.stderr
    assert "Sup3rS3cret" not in result.stderr + result.stdout


def test_generate_writes_a_loadable_source(database_url: str, tmp_path: Path) -> None:
    output = tmp_path / "big.jsonl.gz"

    assert _run("generate", "--rows", "1000", "--output", str(output)).returncode == 0
    result = _run("run", "--source", str(output), "--json", database_url=database_url)

    assert json.loads(result.stdout)["inserted"] == 1000
