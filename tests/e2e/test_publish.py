"""Publishing: versions across majors, installs by range, idempotency, and every way to fail loudly."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import (
    HIGHEST_2X,
    ROOT,
    isolated_env,
    new_venv,
    pip_install,
    run,
    uv_bin,
)
from tools.release.credentials import Credentials, Target
from tools.release.index import IndexServer, free_port
from tools.release.publish import publish, sha256
from tools.release.simple import published_files

# A failure must not hang in retries: the command is killed (the test fails) past this.
FAIL_FAST_SECONDS = 30


def _publish_cli(files: list[Path], tmp_path: Path, **env: str) -> tuple[int, str]:
    """`python -m tools.release publish FILES` as a user runs it, outside any repository config."""
    result = run(
        [sys.executable, "-m", "tools.release", "publish", *map(str, files)],
        cwd=ROOT,
        # HOME and ORM_REPO_ROOT point at an empty dir: no ~/.pypirc, no .index/credentials.
        env=isolated_env(PYTHONPATH=str(ROOT), HOME=str(tmp_path), ORM_REPO_ROOT=str(tmp_path), **env),
        timeout=FAIL_FAST_SECONDS,
    )
    return result.returncode, result.output


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_range_gets_highest_2x_never_3x(
    installer: str, published: dict[str, list[Path]], target: Target, tmp_path: Path
) -> None:
    on_index = published_files(target.simple_url, "orm-models", target.credentials)
    assert {dist.name for files in published.values() for dist in files} <= set(on_index)
    python = new_venv(tmp_path / "venv")
    if installer == "pip":
        result = pip_install(
            python, "--index-url", target.simple_url, "orm-models>=2,<3", credentials=target.credentials
        )
    else:
        env = isolated_env(
            UV_INDEX_PRIVATE_USERNAME=target.credentials.username,
            UV_INDEX_PRIVATE_PASSWORD=target.credentials.password,
        )
        result = run(
            [uv_bin(), "pip", "install", "--quiet", "--python", str(python), "--index",
             f"private={target.simple_url}", "--index-strategy", "first-index", "orm-models>=2,<3"],
            env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.output
    from tests.e2e.helpers import installed, is_hostile

    assert installed(python, "orm-models") == HIGHEST_2X
    assert not is_hostile(python)


def test_same_content_is_skipped(published: dict[str, list[Path]], target: Target) -> None:
    again = publish(published["2.1.0"], target)
    assert again.upload == []
    assert again.skip == published["2.1.0"]


def test_different_content_for_a_published_version_is_refused(
    published: dict[str, list[Path]], conflicting_dists: list[Path], target: Target, tmp_path: Path
) -> None:
    creds = target.credentials
    code, output = _publish_cli(
        conflicting_dists,
        tmp_path,
        TWINE_REPOSITORY_URL=target.upload_url,
        TWINE_USERNAME=creds.username,
        TWINE_PASSWORD=creds.password,
    )
    assert code == 1
    assert "already holds a different file for the same version" in output
    assert "orm_models-2.1.0-py3-none-any.whl" in output
    on_index = published_files(target.simple_url, "orm-models", creds)
    wheel = published["2.1.0"][0]
    assert on_index[wheel.name] == sha256(wheel), "the published file must stay untouched"


def test_a_new_file_for_a_published_version_is_refused(
    published: dict[str, list[Path]], target: Target, tmp_path: Path
) -> None:
    """A build-tagged wheel of 2.1.0 would outrank the published one for installers: refused."""
    wheel = published["2.1.0"][0]
    tagged = tmp_path / "dist" / wheel.name.replace("-2.1.0-", "-2.1.0-1-")
    tagged.parent.mkdir()
    tagged.write_bytes(wheel.read_bytes())
    creds = target.credentials
    code, output = _publish_cli(
        [tagged],
        tmp_path,
        TWINE_REPOSITORY_URL=target.upload_url,
        TWINE_USERNAME=creds.username,
        TWINE_PASSWORD=creds.password,
    )
    assert code == 1, output
    assert "published versions are immutable" in output
    assert f"refused {tagged.name}: a build tag" in output  # judged before anything is sent
    on_index = published_files(target.simple_url, "orm-models", creds)
    assert tagged.name not in on_index
    assert {name for name in on_index if "2.1.0" in name} == {dist.name for dist in published["2.1.0"]}


@pytest.mark.parametrize("failure", ["no credentials", "wrong credentials", "index down"])
def test_publish_fails_clearly_and_quickly(
    failure: str, published: dict[str, list[Path]], target: Target, tmp_path: Path
) -> None:
    env = {"TWINE_REPOSITORY_URL": target.upload_url}
    sent = f"sent-{secrets.token_hex(12)}"  # distinctive: it cannot appear in output by chance
    if failure == "wrong credentials":
        env |= {"TWINE_USERNAME": target.credentials.username, "TWINE_PASSWORD": sent}
    elif failure == "index down":
        env = {
            "TWINE_REPOSITORY_URL": f"http://127.0.0.1:{free_port()}/",
            "TWINE_USERNAME": "u",
            "TWINE_PASSWORD": sent,
        }
    code, output = _publish_cli(published["2.1.0"], tmp_path, **env)
    expected = {
        "no credentials": "no credentials for the index",
        "wrong credentials": "refused these credentials (HTTP 403)",
        "index down": "is not reachable",
    }[failure]
    assert code == 1, output
    assert expected in output, output
    assert sent not in output, "the password sent was printed"
    assert target.credentials.password not in output, "the index's password was printed"


@pytest.mark.parametrize("failure", ["no credentials", "wrong credentials", "index down"])
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_install_fails_clearly_never_falls_through(
    installer: str,
    failure: str,
    published: dict[str, list[Path]],
    private_index: IndexServer,
    hostile_index: IndexServer,
    credentials: Credentials,
    service_copy: dict[str, Path],
    tmp_path: Path,
) -> None:
    """The documented setups, broken three ways: an error naming the cause, never the hostile 2.99.0."""
    simple = private_index.simple_url
    if failure == "index down":
        simple = f"http://127.0.0.1:{free_port()}/simple/"
    # What each case sends: a distinctive wrong password, or the real one (to an index that is down).
    password = f"wrong-{secrets.token_hex(12)}" if failure == "wrong credentials" else credentials.password
    python = new_venv(tmp_path / "venv")
    if installer == "pip":
        sent = None if failure == "no credentials" else Credentials("publisher", password)
        result = pip_install(
            python, "--index-url", simple, "orm-models>=2,<3", credentials=sent, verbose=True
        )
        expected = {
            "no credentials": "401 Client Error: Unauthorized",
            "wrong credentials": "403 Client Error: Forbidden",
            "index down": "Connection refused",
        }
    else:
        project = service_copy["loader-service"]
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace(private_index.simple_url, simple))
        env = isolated_env(UV_DEFAULT_INDEX=hostile_index.simple_url, UV_HTTP_RETRIES="1")
        if failure != "no credentials":
            env |= {"UV_INDEX_PRIVATE_USERNAME": "publisher", "UV_INDEX_PRIVATE_PASSWORD": password}
        result = run([uv_bin(), "lock", "--directory", str(project)], env=env, timeout=FAIL_FAST_SECONDS)
        expected = {
            "no credentials": "401 Unauthorized",
            "wrong credentials": "403 Forbidden",
            "index down": "Connection refused",
        }
        assert not (project / "uv.lock").exists()
    assert result.returncode != 0
    assert expected[failure] in result.output, result.output
    assert "2.99.0" not in result.output
    assert password not in result.output, "the password sent was printed"
    assert credentials.password not in result.output, "the index's password was printed"
