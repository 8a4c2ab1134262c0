"""Operators can watch it: valid logfmt or JSON lines, merge steps with counts, `generate` progress."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import person_rows, write_csv

from loader_service.logs import Event, JsonFormatter, LogfmtFormatter

# key=value pairs separated by one space; a value is bare (no space, quote or =) or a quoted string.
LOGFMT = re.compile(r'^[a-z_]+=(?:"(?:[^"\\]|\\.)*"|[^\s"=]+)(?: [a-z_]+=(?:"(?:[^"\\]|\\.)*"|[^\s"=]+))*$')
PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)')


def _parse(line: str) -> dict[str, str]:
    assert LOGFMT.match(line), line
    return {key: json.loads(value) if value.startswith('"') else value for key, value in PAIR.findall(line)}


def _record(msg: object, name: str = "loader_service") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (), None)


def test_logfmt_quotes_what_needs_quoting_and_round_trips() -> None:
    fields: dict[str, object] = {
        "reason": 'say "hi"\nthen = go',
        "empty": "",
        "none": None,
        "path": "/a b/c.csv",
        "n": 3,
    }
    line = LogfmtFormatter().format(_record(Event("reject", fields)))

    parsed = _parse(line)

    assert parsed["event"] == "reject"
    assert parsed["level"] == "warning"
    assert (parsed["reason"], parsed["empty"], parsed["none"], parsed["path"], parsed["n"]) == (
        'say "hi"\nthen = go',
        "",
        "",
        "/a b/c.csv",
        "3",
    )


def test_other_libraries_lines_are_logfmt_and_json_too_without_url_secrets() -> None:
    record = _record('HTTP Request: GET https://u:pw@h/x.csv?sig=abc "HTTP/1.1 200 OK"', "httpx")

    parsed = _parse(LogfmtFormatter().format(record))
    as_json = json.loads(JsonFormatter().format(record))

    assert (parsed["event"], parsed["logger"]) == ("log", "httpx")
    assert parsed["message"] == 'HTTP Request: GET https://h/x.csv?… "HTTP/1.1 200 OK"'
    assert as_json["message"] == parsed["message"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loader_service", *args],
        env={**os.environ, "LOADER_PROGRESS_INTERVAL": "0.001", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_json_log_lines_report_each_merge_step_with_its_count(database_url: str, tmp_path: Path) -> None:
    rows = person_rows(30)
    rows[4]["email"] = "two words@example.com"
    source = write_csv(tmp_path / "p.csv", rows)

    done = _cli(
        "run",
        "--source",
        str(source),
        "--max-errors",
        "1",
        "--rejects",
        str(tmp_path / "r.jsonl"),
        "--path",
        "merge",  # a first load takes the bulk path by itself
        DATABASE_URL=database_url,
        LOADER_LOG_FORMAT="json",
    )

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    started = [(line["step"], line["number"]) for line in lines if line["event"] == "merge_progress"]
    assert started == [
        ("organization_staging", 1),
        ("organization_update", 2),
        ("organization_insert", 3),
        ("person_update", 4),
        ("person_insert", 5),
        ("person_delete", 6),
    ]
    counts = {line["step"]: line["rows"] for line in lines if line["event"] == "merge_step"}
    assert (counts["person_insert"], counts["organization_insert"]) == (29, 3)
    summary = next(line for line in lines if line["event"] == "summary")
    assert (summary["inserted"], summary["rejected"]) == (29, 1)
    reason = next(line for line in lines if line["event"] == "reject")["reason"]
    assert reason == (
        "email: is not an email address: "
        "The email address contains invalid characters before the @-sign: SPACE."
    )


def test_logfmt_lines_of_a_run_are_valid(database_url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "with space.csv", person_rows(5))

    done = _cli("run", "--source", str(source), DATABASE_URL=database_url)

    assert done.returncode == 0, done.stderr
    parsed = [_parse(line) for line in done.stderr.splitlines()]
    assert next(line for line in parsed if line["event"] == "start")["source"] == str(
        source
    )  # quoted: a space
    assert "merge_progress" in {line["event"] for line in parsed}


def test_generate_reports_progress(tmp_path: Path) -> None:
    done = _cli("generate", "--rows", "25000", "--output", str(tmp_path / "g.csv"))

    assert done.returncode == 0, done.stderr
    progress = [_parse(line) for line in done.stderr.splitlines() if "event=progress" in line]
    records = [int(line["records"]) for line in progress]
    assert records  # one line at least every LOADER_PROGRESS_INTERVAL (here: each 10,000 records)
    assert records == sorted(records)
    assert set(records) <= {10_000, 20_000, 25_000}
    assert all(int(line["bytes"]) > 0 for line in progress)
