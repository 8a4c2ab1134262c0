"""Shared plumbing of the e2e scenarios: subprocesses with deadlines, isolated pip, venvs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.release import releases, version
from tools.release.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 240
RECORDED = [release.version for release in releases.load(ROOT)]
"""Every orm-models release recorded in orm-models/releases.toml, oldest first."""
HIGHEST_2X = max((v for v in RECORDED if version.parse(v).major == 2), key=version.parse)
"""What `orm-models>=2,<3` must resolve to from the private index."""


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str


def run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Result:
    """Run without a shell; stdout and stderr together; always bounded in time.

    Past `timeout` the command is killed and the test fails with TimeoutExpired: a bound on a
    hang (a retry loop, a wait that never ends), not a speed target; those are benchmarks.
    """
    done = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout)


def isolated_env(**extra: str) -> dict[str, str]:
    """This machine's pip config adds wheel dirs, file:// indexes and constraints: drop all of it.

    Also drops any index/credential settings of the caller, so a test sees only what it sets.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_EXTRA", "TWINE_"))
        # nox activates the test venv: `uv sync` would otherwise sync (and strip) that one.
        and key not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return env | extra


def uv_bin() -> str:
    if os.environ.get("UV"):
        return os.environ["UV"]
    from uv import find_uv_bin

    return str(find_uv_bin())


def new_venv(path: Path) -> Path:
    """A throwaway venv (no pip in it: pip runs from the test venv with --python)."""
    result = run([uv_bin(), "venv", "--quiet", "--python", sys.executable, str(path)])
    assert result.returncode == 0, result.output
    return path / "bin" / "python"


def pip_install(
    target: Path, *args: str, credentials: Credentials | None = None, verbose: bool = False
) -> Result:
    """pip (the test venv's own) installing into `target`, with pip's global config isolated.

    Credentials go through a `.netrc` (NETRC), the documented way: never in the URL or argv,
    where every local user sees them in the process list. The command line is checked for it.
    pip reports an index's 401/403 or a refused connection only at `-vv` ("Could not fetch URL"):
    without it, every one of them reads "No matching distribution found".
    """
    command = [sys.executable, "-m", "pip", "--python", str(target), "install", "--no-input"]
    command += ["-vv"] if verbose else ["--quiet"]
    command += ["--retries", "1", "--timeout", "10", *args]
    env = isolated_env()
    if credentials is not None:
        assert not any(credentials.password in arg for arg in command), "a password on a command line"
        netrc = target.parent.parent / "netrc"
        netrc.write_text(write_netrc_entry(credentials))
        netrc.chmod(0o600)
        env["NETRC"] = str(netrc)
    return run(command, env=env)


def write_netrc_entry(credentials: Credentials, host: str = "127.0.0.1") -> str:
    """A .netrc entry for the index host (netrc matches the host name; the port is not part of it)."""
    return f"machine {host}\nlogin {credentials.username}\npassword {credentials.password}\n"


def installed(python: Path, distribution: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: print('none')"
    )
    version = run([str(python), "-c", code, distribution]).output.strip()
    return None if version == "none" else version


def is_hostile(python: Path) -> bool:
    code = "import orm_models; print(getattr(orm_models, 'HOSTILE', False))"
    return run([str(python), "-c", code]).output.strip() == "True"


def scratch_clone(destination: Path, email: str, name: str) -> Path:
    """A clone of this repository's HEAD with its own git identity, for tests that commit and tag.

    Tags of releases cut on other branches of the same repository are not this history's, and
    would collide with the versions a test releases: they are dropped from the clone.
    """
    for command in (
        ["git", "clone", "--quiet", str(ROOT), str(destination)],
        ["git", "-C", str(destination), "config", "user.email", email],
        ["git", "-C", str(destination), "config", "user.name", name],
    ):
        done = run(command)
        assert done.returncode == 0, done.output
    foreign = run(["git", "-C", str(destination), "tag", "--no-merged", "HEAD"]).output.split()
    if foreign:
        done = run(["git", "-C", str(destination), "tag", "-d", *foreign])
        assert done.returncode == 0, done.output
    return destination
