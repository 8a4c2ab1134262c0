"""The index itself: loopback only, authentication on every action, generated credentials."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from tests.e2e.helpers import ROOT, isolated_env, run
from tools.release.credentials import Credentials
from tools.release.index import IndexServer, free_port
from tools.release.simple import fetch


def test_every_action_needs_credentials(private_index: IndexServer, credentials: Credentials) -> None:
    command = private_index.command()
    assert command[command.index("-i") + 1] == "127.0.0.1"
    assert "-o" not in command
    assert "--overwrite" not in command
    assert command[command.index("-a") + 1] == "update,download,list"
    assert fetch(private_index.simple_url, None)[0] == 401
    assert fetch(private_index.simple_url, Credentials(credentials.username, "wrong"))[0] == 403
    assert fetch(private_index.simple_url, credentials)[0] == 200


def test_index_command_generates_credentials_prints_url_and_stops(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "tools.release", "index", "--state-dir", str(state), "--port", str(port)],
        cwd=ROOT,
        env=isolated_env(PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert serve.stdout is not None
        banner = "".join(_read_until(serve.stdout, "stop it with", seconds=30))
        credentials = (state / "credentials").read_text()
        password = next(line.split("=", 1)[1] for line in credentials.splitlines() if "PASSWORD=" in line)
        assert f"http://127.0.0.1:{port}/" in banner
        assert password not in banner
        assert stat.S_IMODE(os.stat(state / "credentials").st_mode) == 0o600
        assert "UV_INDEX_PRIVATE_USERNAME=" in credentials
        stopped = run(
            [sys.executable, "-m", "tools.release", "index", "stop", "--state-dir", str(state)], cwd=ROOT
        )
        assert stopped.returncode == 0, stopped.output
        assert serve.wait(timeout=15) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        if serve.stdout is not None:
            serve.stdout.close()


def _read_until(stream: IO[str], marker: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} within {seconds}s: {''.join(lines)}")
