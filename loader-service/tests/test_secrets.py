"""No secret from a source URL in any output: every command path, with a source URL carrying a
password and a signed query, succeeding or failing; logfmt and JSON; httpx's own loggers too."""

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import person_rows, write_csv

from loader_service.config import Settings
from loader_service.errors import LoaderError, SourceError
from loader_service.handler import handler

SECRET = "SECRET"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sources(base: str) -> dict[str, str]:
    local = base.removeprefix("http://")
    return {
        "success": f"http://user:{SECRET}@{local}/people.csv?sig={SECRET}",
        "404": f"http://user:{SECRET}@{local}/status/404/people.csv?sig={SECRET}",
        "refused": f"https://user:{SECRET}@127.0.0.1:{_closed_port()}/x.csv?sig={SECRET}",
        "unknown format": f"https://user:{SECRET}@host.invalid/x?sig={SECRET}",
    }


# Each failure and success once, spread over both log formats and every way `run` prints.
_CLI_CASES = [
    ("success", "logfmt", ["-v", "run", "--json"], 0),
    ("success", "json", ["run"], 0),
    ("404", "json", ["-v", "run", "--every", "1h", "--runs", "1"], 1),
    ("refused", "logfmt", ["-v", "run"], 1),
    ("unknown format", "json", ["run", "--json"], 1),
]


def test_no_secret_in_any_stream_of_the_cli(
    database_url: str, tmp_path: Path, http_server: tuple[str, Path, dict[str, int]]
) -> None:
    base, served, hits = http_server
    write_csv(served / "people.csv", person_rows(3))
    sources = _sources(base)
    for case, log_format, arguments, status in _CLI_CASES:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LOADER_LOG_FORMAT": log_format,
            "LOADER_HTTP_RETRIES": "0",
            "LOADER_PROGRESS_INTERVAL": "0.001",
        }
        command = [sys.executable, "-m", "loader_service", *arguments, "--source", sources[case]]
        done = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == status, (case, done.stderr)
        assert SECRET not in done.stdout + done.stderr, (case, done.stdout + done.stderr)
        if "-v" in arguments and case == "success":
            assert "httpx" in done.stderr  # the third-party logger did speak: scrubbed, not silenced
    assert hits["/people.csv?sig=SECRET"] == 2  # the secret did reach the server
    assert not [path for path in tmp_path.iterdir() if SECRET in path.name]


def test_no_secret_through_the_lambda_handler(
    settings: Settings,
    http_server: tuple[str, Path, dict[str, int]],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, served, _ = http_server
    write_csv(served / "people.csv", person_rows(3))
    no_retries = settings.model_copy(update={"http_retries": 0})
    seen = []
    with caplog.at_level(logging.DEBUG):
        for case, source in _sources(base).items():
            try:
                seen.append(str(handler({"source": source, "mode": "append"}, None, settings=no_retries)))
            except LoaderError as error:
                seen.append(f"{case}: {error}")
        try:  # a bad event does not echo the values it got
            handler({"source": source, "mode": "Sync", "rejects": source}, None, settings=no_retries)
        except LoaderError as error:
            seen.append(str(error))
    captured = capsys.readouterr()

    assert len(seen) == 5
    assert "HTTP 404" in seen[1]
    assert "bad event" in seen[4]
    assert SECRET not in "\n".join(seen) + caplog.text + captured.out + captured.err


def test_an_error_text_quoting_a_url_is_scrubbed_whoever_wrote_it() -> None:
    quoted = f"Invalid URL 'https://user:{SECRET}@h.example/x.csv?sig={SECRET}': bad port"

    assert str(SourceError(quoted)) == "Invalid URL 'https://h.example/x.csv?…': bad port"
