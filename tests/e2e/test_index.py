"""The index itself: loopback only, authentication on every action, generated credentials."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.helpers import ROOT, isolated_env, run
from tools.release import ReleaseError
from tools.release.credentials import Credentials
from tools.release.index import PIDFILE, IndexServer, free_port
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


def _start_index_command(state: Path, port: int) -> subprocess.Popen[str]:
    """`python -m tools.release index` in a session of its own: it and its pypiserver are one group."""
    return subprocess.Popen(
        [sys.executable, "-m", "tools.release", "index", "--state-dir", str(state), "--port", str(port)],
        cwd=ROOT,
        env=isolated_env(PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _group_alive(serve: subprocess.Popen[str]) -> bool:
    try:
        os.killpg(serve.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_index_command(serve: subprocess.Popen[str]) -> None:
    """SIGTERM first, so the command's own handler stops pypiserver; then nothing of its group survives."""
    try:
        if serve.poll() is None:
            serve.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                serve.wait(timeout=15)
        if _group_alive(serve):  # the command hung, or its pypiserver outlived it
            os.killpg(serve.pid, signal.SIGKILL)
        serve.wait(timeout=10)
    finally:
        if serve.stdout is not None:
            serve.stdout.close()


def test_index_command_generates_credentials_prints_url_and_stops(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    serve = _start_index_command(state, port)
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
        _stop_index_command(serve)


def test_terminating_the_index_command_stops_its_pypiserver(tmp_path: Path) -> None:
    """SIGTERM (what a supervisor or `kill` sends) leaves no pypiserver behind, and no pidfile."""
    state = tmp_path / "state"
    port = free_port()
    serve = _start_index_command(state, port)
    try:
        assert serve.stdout is not None
        _read_until(serve.stdout, "stop it with", seconds=30)
        server_pid = int((state / PIDFILE).read_text())
        assert server_pid != serve.pid
        serve.terminate()
        assert serve.wait(timeout=15) == 0
        deadline = time.monotonic() + 10
        while _group_alive(serve) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(serve), "pypiserver outlived the index command"
        assert not (state / PIDFILE).exists()
        with pytest.raises(ReleaseError, match="not reachable"):
            fetch(f"http://127.0.0.1:{port}/health", None, timeout=2)
    finally:
        _stop_index_command(serve)


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
