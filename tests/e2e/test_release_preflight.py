"""`release` checks before it changes anything, and a failed step leaves the tree as it found it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import ROOT, isolated_env, run, scratch_clone, uv_bin
from tools.release import ReleaseError, release, version
from tools.release.credentials import Credentials, Target
from tools.release.index import IndexServer, free_port


def _git(repo: Path, *args: str) -> str:
    result = run(["git", "-C", str(repo), *args])
    assert result.returncode == 0, result.output
    return result.output.strip()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return scratch_clone(tmp_path / "clone", "preflight@example.invalid", "Pre-flight test")


def _tool(clone: Path, *args: str, **env: str) -> tuple[int, str]:
    result = run(
        [sys.executable, "-m", "tools.release", *args],
        cwd=ROOT,
        env=isolated_env(PYTHONPATH=str(ROOT), ORM_REPO_ROOT=str(clone), UV=uv_bin(), HOME=str(clone), **env),
    )
    return result.returncode, result.output


def test_a_major_without_a_breaking_change_is_refused(clone: Path) -> None:
    code, output = _tool(clone, "release", "major", "--plan", "--required-bump", "minor")
    assert code == 1, output
    assert "refusing a major release: the schema gate found no breaking change (it needs minor)" in output
    code, output = _tool(
        clone, "release", "major", "--plan", "--required-bump", "minor", "--allow-empty-major"
    )
    assert code == 0, output
    assert output.split()[-1] == version.bump(version.read(clone), "major")
    code, output = _tool(clone, "release", "major", "--plan", "--required-bump", "major")
    assert code == 0, output


def test_an_existing_tag_for_the_next_version_is_refused(clone: Path) -> None:
    expected = version.bump(version.read(clone), "minor")
    _git(clone, "tag", "-a", f"orm-models-v{expected}", "HEAD", "-m", "cut elsewhere")
    code, output = _tool(clone, "release", "minor", "--plan")
    assert code == 1, output
    assert f"tag orm-models-v{expected} already exists" in output
    assert "Nothing was changed" in output


def test_no_git_identity_is_refused_before_anything(clone: Path) -> None:
    _git(clone, "config", "--unset", "user.email")
    _git(clone, "config", "--unset", "user.name")
    _git(clone, "config", "user.useConfigOnly", "true")
    code, output = _tool(clone, "release", "minor", "--plan", GIT_CONFIG_GLOBAL="/dev/null")
    assert code == 1, output
    assert "git has no identity to commit the release with" in output
    assert _git(clone, "status", "--porcelain") == ""


@pytest.mark.parametrize("failure", ["wrong password", "index down"])
def test_preflight_names_the_index_problem_before_any_change(
    clone: Path, failure: str, private_index: IndexServer
) -> None:
    url = private_index.url if failure == "wrong password" else f"http://127.0.0.1:{free_port()}/"
    code, output = _tool(
        clone, "release", "minor", "--plan", "--preflight",
        TWINE_REPOSITORY_URL=url, TWINE_USERNAME="publisher", TWINE_PASSWORD="not-the-password",
    )  # fmt: skip
    assert code == 1, output
    assert ("HTTP 403" if failure == "wrong password" else "is not reachable") in output, output
    assert "not-the-password" not in output
    assert _git(clone, "status", "--porcelain") == ""


def test_a_failed_bump_commit_leaves_nothing_staged_or_changed(clone: Path, tmp_path: Path) -> None:
    hook = clone / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = version.read(clone)
    head = _git(clone, "rev-parse", "HEAD")
    unused = Target("http://127.0.0.1:9/", "http://127.0.0.1:9/simple/", Credentials("u", "p"))
    with pytest.raises(ReleaseError, match="nothing was changed: the tree is as it was"):
        release.run(clone, "minor", unused, uv_bin(), tmp_path / "work")
    assert _git(clone, "status", "--porcelain") == ""
    assert _git(clone, "diff", "--cached", "--name-only") == ""
    assert _git(clone, "rev-parse", "HEAD") == head
    assert version.read(clone) == before


def test_a_dirty_tree_is_refused_naming_each_path_whole(clone: Path) -> None:
    """Each kind of porcelain record, first and last: unstaged (` M`), staged, renamed, untracked."""
    about = "orm-models/src/orm_models/__about__.py"
    (clone / about).write_text((clone / about).read_text() + "\n")  # " M": begins with a blank
    (clone / "CHANGELOG.md").write_text((clone / "CHANGELOG.md").read_text() + "\n")
    _git(clone, "add", "CHANGELOG.md")  # "M "
    _git(clone, "mv", "orm-models/LICENSE", "orm-models/LICENSE renamed")  # "R  new\0old"
    (clone / "orm-models" / "notes ü.txt").write_text("x\n")  # "??", a space and non-ASCII
    code, output = _tool(clone, "release", "minor", "--plan")
    assert code == 1, output
    listing = output.split("uncommitted path(s): ", 1)[1].split("); commit or stash", 1)[0]
    assert sorted(listing.split(", ")) == sorted(
        [about, "CHANGELOG.md", "orm-models/LICENSE renamed", "orm-models/notes ü.txt"]
    ), output
    assert "refusing to release from a dirty tree (4 uncommitted path(s)" in output
