"""Dependency confusion: a "public" index holds orm-models 2.99.0; the services must never get it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.helpers import (
    HIGHEST_2X,
    ROOT,
    installed,
    is_hostile,
    isolated_env,
    new_venv,
    pip_install,
    run,
    uv_bin,
)
from tools.release.credentials import Credentials
from tools.release.index import IndexServer
from tools.release.simple import fetch

SERVICES = ["loader-service", "api-service"]


def test_the_hostile_index_really_offers_a_higher_orm_models(hostile_index: IndexServer) -> None:
    status, page = fetch(hostile_index.simple_url + "orm-models/", None)
    assert status == 200
    assert "orm_models-2.99.0" in page


@pytest.mark.parametrize("service", SERVICES)
def test_uv_locks_orm_models_from_the_private_index_only(
    service: str,
    published: dict[str, list[Path]],
    private_index: IndexServer,
    hostile_index: IndexServer,
    credentials: Credentials,
    service_copy: dict[str, Path],
) -> None:
    """The documented configuration (explicit index + source), with the hostile index as default."""
    project = service_copy[service]
    env = isolated_env(
        UV_DEFAULT_INDEX=hostile_index.simple_url,
        UV_INDEX_PRIVATE_USERNAME=credentials.username,
        UV_INDEX_PRIVATE_PASSWORD=credentials.password,
    )
    locked = run([uv_bin(), "lock", "--directory", str(project)], env=env)
    assert locked.returncode == 0, locked.output
    lock = (project / "uv.lock").read_text()
    entry = re.search(
        r'\[\[package\]\]\nname = "orm-models"\nversion = "([^"]+)"\nsource = \{ registry = "([^"]+)" \}',
        lock,
    )
    assert entry is not None, lock
    assert entry.groups() == (HIGHEST_2X, private_index.simple_url)
    _assert_no_credential(lock, credentials)
    if service == "loader-service":  # one real sync is enough: the lock decides what is installed
        venv = project / ".venv"
        sync_env = env | {"UV_PROJECT_ENVIRONMENT": str(venv)}
        synced = run([uv_bin(), "sync", "--locked", "--directory", str(project)], env=sync_env)
        assert synced.returncode == 0, synced.output
        python = venv / "bin" / "python"
        assert installed(python, "orm-models") == HIGHEST_2X
        assert not is_hostile(python)


def test_pip_with_the_private_index_as_only_index_gets_the_private_orm_models(
    published: dict[str, list[Path]],
    private_index: IndexServer,
    credentials: Credentials,
    tmp_path: Path,
) -> None:
    """The README's plain-pip path ("Installing a service from the index"): pypiserver redirects
    only names it lacks to its fallback (here the hostile index), so the service's other
    dependencies resolve and orm-models stays ours."""
    wheels = tmp_path / "wheels"
    built = run(
        [uv_bin(), "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(ROOT / "loader-service")]
    )
    assert built.returncode == 0, built.output
    python = new_venv(tmp_path / "venv")
    result = pip_install(
        python,
        "--index-url",
        private_index.simple_url,
        *map(str, wheels.glob("*.whl")),
        credentials=credentials,
    )
    assert result.returncode == 0, result.output
    assert installed(python, "orm-models") == HIGHEST_2X
    assert installed(python, "loader-service") is not None
    assert not is_hostile(python)
    assert credentials.password not in result.output


@pytest.mark.parametrize("service", SERVICES)
def test_committed_lock_holds_no_credential(service: str) -> None:
    lock_file = ROOT / service / "uv.lock"
    assert lock_file.exists(), f"{service} must commit its own lock (`nox -s lock`)"
    lock = lock_file.read_text()
    assert 'name = "orm-models"' in lock
    local = ROOT / ".index" / "credentials"
    secrets = [
        line.split("=", 1)[1]
        for line in (local.read_text().splitlines() if local.exists() else [])
        if "PASSWORD=" in line
    ]
    _assert_no_credential(lock, Credentials("-", secrets[0]) if secrets else None)
    assert not (ROOT / "uv.lock").exists(), "no shared workspace lock: each service locks alone"


def _assert_no_credential(lock: str, credentials: Credentials | None) -> None:
    assert not re.search(r"://[^/\s\"]+@", lock), "an index URL with userinfo leaked into the lock"
    if credentials is not None:
        assert credentials.password not in lock
