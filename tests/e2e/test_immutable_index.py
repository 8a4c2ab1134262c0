"""The index refuses, at the server, whatever would change a published version, and a read
credential cannot upload: tried with plain twine and curl (not our publish code, which refuses
these itself before sending anything)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import (
    ROOT,
    Result,
    installed,
    isolated_env,
    new_venv,
    pip_install,
    run,
    write_netrc_entry,
)
from tools.release.credentials import Credentials
from tools.release.index import HOST, PIDFILE, IndexServer, free_port, port_holder
from tools.release.simple import published_files

UPLOADER = Credentials("publisher", "upload-secret-4f1c")
READER = Credentials("reader", "read-secret-9a2e")
VERSION = "2.1.0"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, dists: dict[str, list[Path]]) -> Iterator[IndexServer]:
    """A fresh index (upload + read users) holding orm-models 2.1.0, uploaded with plain twine."""
    work = tmp_path_factory.mktemp("guarded")
    with IndexServer(
        packages=work / "packages", credentials=UPLOADER, reader=READER, htpasswd=work / "htpasswd"
    ) as server:
        result = _twine(server, UPLOADER, dists[VERSION])
        assert result.returncode == 0, result.output
        yield server


def _twine(server: IndexServer, user: Credentials, files: list[Path]) -> Result:
    """Plain `twine upload` (credentials in its environment, as CI passes them)."""
    command = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    env = isolated_env(TWINE_USERNAME=user.username, TWINE_PASSWORD=user.password)
    return run([*command, "--repository-url", server.url, *map(str, files)], env=env)


def _curl_post(server: IndexServer, user: Credentials, netrc_dir: Path, *fields: str) -> tuple[str, str]:
    """curl with the credential in a netrc file (never on its command line); (status, body)."""
    netrc = netrc_dir / "netrc"
    netrc.write_text(write_netrc_entry(user))
    netrc.chmod(0o600)
    form = [arg for field in fields for arg in ("-F", field)]
    result = run(
        ["curl", "-sS", "--netrc-file", str(netrc), "-o", "-", "-w", "\n%{http_code}", *form, server.url]
    )
    body, _, status = result.output.rpartition("\n")
    return status.strip(), body


def _held(server: IndexServer) -> dict[str, str | None]:
    return published_files(server.simple_url, "orm-models", UPLOADER)


def _files_of(version: str, held: dict[str, str | None]) -> set[str]:
    return {name for name in held if f"-{version}" in name}


def test_remove_pkg_is_refused_even_for_the_uploader(guarded: IndexServer, tmp_path: Path) -> None:
    before = _held(guarded)
    status, body = _curl_post(
        guarded, UPLOADER, tmp_path, ":action=remove_pkg", "name=orm-models", f"version={VERSION}"
    )
    assert status == "403", body
    assert "never removes or changes a published version" in body
    assert _held(guarded) == before
    assert _files_of(VERSION, before), "the version must still be there"


@pytest.mark.parametrize(
    ("rename", "why"),
    [
        # A build tag: preferred by pip.
        (
            lambda name: name.replace(f"-{VERSION}-", f"-{VERSION}-1-"),
            "refused orm_models-2.1.0-1-py3-none-any.whl: a build tag",
        ),
        # The same version, spelt differently.
        (
            lambda name: name.replace(f"-{VERSION}-", "-2.1-"),
            "its metadata spells the version '2.1.0', its name '2.1'",
        ),
    ],
    ids=["build-tag", "short-version"],
)
def test_a_new_file_for_a_held_version_is_refused(
    guarded: IndexServer, dists: dict[str, list[Path]], tmp_path: Path, rename: object, why: str
) -> None:
    """(The spelling, archive type and local-version variants: test_index_identity.py.)"""
    wheel = dists[VERSION][0]
    other = tmp_path / rename(wheel.name)  # type: ignore[operator]
    shutil.copyfile(wheel, other)
    before = _held(guarded)
    result = _twine(guarded, UPLOADER, [other])
    assert result.returncode != 0, result.output
    assert why in " ".join(result.output.split()), result.output
    assert _held(guarded) == before


def test_a_late_file_of_the_other_kind_is_refused(
    guarded: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    """A wheel alone, then its sdist after the upload window: the version is closed by then."""
    wheel, sdist = dists["2.2.0"]
    assert _twine(guarded, UPLOADER, [wheel]).returncode == 0
    held = guarded.packages / wheel.name
    hour_ago = held.stat().st_mtime - 3600
    os.utime(held, (hour_ago, hour_ago))
    result = _twine(guarded, UPLOADER, [sdist])
    assert result.returncode != 0, result.output
    assert "409" in result.output, result.output
    assert _files_of("2.2.0", _held(guarded)) == {wheel.name}


def test_the_same_file_again_is_refused_and_nothing_changes(
    guarded: IndexServer, dists: dict[str, list[Path]]
) -> None:
    before = _held(guarded)
    result = _twine(guarded, UPLOADER, dists[VERSION][:1])
    assert result.returncode != 0, result.output
    assert _held(guarded) == before


def test_the_read_credential_reads_but_cannot_upload(
    guarded: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    refused = _twine(guarded, READER, dists["2.0.0"])
    assert refused.returncode != 0, refused.output
    assert "403" in refused.output, refused.output
    assert not _files_of("2.0.0", _held(guarded))
    status, body = _curl_post(
        guarded, READER, tmp_path, ":action=remove_pkg", "name=orm-models", "version=2.1.0"
    )
    assert status == "403", body
    # ...and reads: pip with the read credential in a .netrc, never on its command line.
    python = new_venv(tmp_path / "venv")
    result = pip_install(python, "--index-url", guarded.simple_url, f"orm-models=={VERSION}", "--no-deps",
                         credentials=READER)  # fmt: skip
    assert result.returncode == 0, result.output
    assert installed(python, "orm-models") == VERSION
    assert READER.password not in result.output


def test_a_second_index_refuses_and_leaves_the_first_alone(tmp_path: Path) -> None:
    """The first one is placed by ORM_INDEX_URL alone (no --port): one setting moves the server."""
    state = tmp_path / "state"
    port = free_port()
    command = [sys.executable, "-m", "tools.release", "index", "--state-dir", str(state)]
    first = subprocess.Popen(
        command, cwd=ROOT, env=isolated_env(PYTHONPATH=str(ROOT), ORM_INDEX_URL=f"http://{HOST}:{port}/"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if "stop it with" in line:
                break
        pidfile = (state / PIDFILE).read_text()
        second = run([*command, "--port", str(free_port())], cwd=ROOT, env=isolated_env(PYTHONPATH=str(ROOT)))
        assert second.returncode == 1, second.output
        pid = pidfile.split()[0]
        assert f"already running at http://{HOST}:{port}/, pid {pid}" in second.output
        assert (state / PIDFILE).read_text() == pidfile
        assert first.poll() is None
        assert published_files(f"http://{HOST}:{port}/simple/", "orm-models", _local_reader(state)) == {}
    finally:
        first.terminate()
        first.wait(timeout=15)
        if first.stdout is not None:
            first.stdout.close()


def _local_reader(state: Path) -> Credentials:
    values = dict(
        line.split("=", 1) for line in (state / "credentials").read_text().splitlines() if "=" in line
    )
    return Credentials(values["ORM_INDEX_READ_USERNAME"], values["ORM_INDEX_READ_PASSWORD"])


def test_a_port_held_by_another_program_is_named(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_holder(port) is not None
        result = run(
            [sys.executable, "-m", "tools.release", "index", "--state-dir", str(tmp_path / "s"),
             "--port", str(port)],
            cwd=ROOT,
            env=isolated_env(PYTHONPATH=str(ROOT)),
        )  # fmt: skip
    assert result.returncode == 1, result.output
    assert f"port {port} on {HOST} is already in use by pid " in result.output, result.output
    assert not (tmp_path / "s" / PIDFILE).exists()


def test_a_free_port_has_no_holder() -> None:
    assert port_holder(free_port()) is None


def test_an_index_without_authentication_is_immutable_too(hostile_index: IndexServer, tmp_path: Path) -> None:
    """The guard does not rely on credentials: an anonymous index refuses removals as well."""
    form = [":action=remove_pkg", "name=orm-models", "version=2.99.0"]
    result = run(
        [
            "curl",
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            *(a for f in form for a in ("-F", f)),
            hostile_index.url,
        ]
    )
    _, _, status = result.output.rpartition("\n")
    assert status.strip() == "403", result.output
    assert published_files(hostile_index.simple_url, "orm-models", None), "2.99.0 must still be there"


def test_publish_with_the_read_credential_is_refused_before_anything(
    guarded: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    result = run(
        [sys.executable, "-m", "tools.release", "publish", *map(str, dists["2.0.0"])],
        cwd=ROOT,
        env=isolated_env(
            PYTHONPATH=str(ROOT), HOME=str(tmp_path), ORM_REPO_ROOT=str(tmp_path),
            TWINE_REPOSITORY_URL=guarded.url, TWINE_USERNAME=READER.username, TWINE_PASSWORD=READER.password,
        ),
    )  # fmt: skip
    assert result.returncode == 1, result.output
    assert (
        "refused uploads by 'reader' (HTTP 403): wrong password, or a read-only credential" in result.output
    )
    assert READER.password not in result.output


def test_versions_reads_the_index_orm_index_url_names(guarded: IndexServer, tmp_path: Path) -> None:
    """`versions` (what compat uses) with only ORM_INDEX_URL and the read credential set."""
    result = run(
        [sys.executable, "-m", "tools.release", "versions"],
        cwd=ROOT,
        env=isolated_env(
            PYTHONPATH=str(ROOT), HOME=str(tmp_path), ORM_REPO_ROOT=str(tmp_path), ORM_INDEX_URL=guarded.url,
            UV_INDEX_PRIVATE_USERNAME=READER.username, UV_INDEX_PRIVATE_PASSWORD=READER.password,
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert VERSION in result.output.split()
