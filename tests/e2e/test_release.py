"""`nox -s release` end to end, on a throwaway clone: never a commit or tag in the real checkout."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import ROOT, installed, isolated_env, new_venv, run, scratch_clone, uv_bin
from tools.release import changelog, version
from tools.release.credentials import Credentials
from tools.release.index import IndexServer
from tools.release.simple import published_files


def _git(repo: Path, *args: str) -> str:
    result = run(["git", "-C", str(repo), *args])
    assert result.returncode == 0, result.output
    return result.output.strip()


IDENTITY = "release-test@example.invalid"


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """A clone of this repository's HEAD with its own identity; the real checkout stays untouched
    (others may commit to it meanwhile, so the check is: no commit or tag of ours reached it)."""
    tags_before = _git(ROOT, "tag", "--list")
    repo = scratch_clone(tmp_path / "clone", IDENTITY, "Release test")
    yield repo
    assert _git(ROOT, "tag", "--list") == tags_before
    assert _git(ROOT, "log", "--all", f"--author={IDENTITY}", "--format=%H") == ""


@pytest.fixture
def fresh_index(tmp_path: Path) -> Iterator[tuple[IndexServer, Credentials]]:
    credentials = Credentials("releaser", "release-test-password")
    with IndexServer(
        packages=tmp_path / "packages",
        credentials=credentials,
        htpasswd=tmp_path / "htpasswd",
        log=tmp_path / "index.log",
    ) as server:
        yield server, credentials


def test_release_refuses_a_dirty_tree(clone: Path) -> None:
    (clone / "stray.txt").write_text("not committed\n")
    result = run(
        [sys.executable, "-m", "tools.release", "release", "minor"],
        cwd=clone,
        env=isolated_env(PYTHONPATH=str(clone), UV=uv_bin()),
    )
    assert result.returncode == 1
    assert "refusing to release from a dirty tree" in result.output
    assert "stray.txt" in result.output
    assert version.read(clone) == version.read(ROOT)


def _plan(clone: Path) -> tuple[int, str]:
    """`release minor --plan` by this checkout's tool (committed or not) on the clone."""
    result = run(
        [sys.executable, "-m", "tools.release", "release", "minor", "--plan"],
        cwd=ROOT,  # `-m` imports from the working directory first
        env=isolated_env(PYTHONPATH=str(ROOT), ORM_REPO_ROOT=str(clone), UV=uv_bin()),
    )
    return result.returncode, result.output


def test_resume_requires_the_bump_commit_at_head(clone: Path) -> None:
    """A run that committed the bump and failed later resumes only from that commit, never a later one."""
    expected = version.bump(version.read(clone), "minor")
    version.write(clone, expected)
    _git(clone, "commit", "--quiet", "-am", f"orm-models {expected}")
    bump = _git(clone, "rev-parse", "HEAD")
    (clone / "later.txt").write_text("work committed after the bump\n")
    _git(clone, "add", "later.txt")
    _git(clone, "commit", "--quiet", "-m", "later work")

    code, output = _plan(clone)
    assert code == 1, output
    assert f"refusing to resume the release of {expected}" in output
    assert f"git checkout {bump}" in output

    _git(clone, "checkout", "--quiet", bump)
    code, output = _plan(clone)
    assert code == 0, output
    assert output.split()[-1] == expected


def test_resume_refuses_a_version_bumped_outside_a_release(clone: Path) -> None:
    expected = version.bump(version.read(clone), "minor")
    version.write(clone, expected)
    _git(clone, "commit", "--quiet", "-am", "bump by hand")
    code, output = _plan(clone)
    assert code == 1, output
    assert f"no commit 'orm-models {expected}' is in HEAD's history" in output


@pytest.mark.long
def test_release_minor_publishes_records_and_installs_by_range(
    clone: Path, fresh_index: tuple[IndexServer, Credentials], tmp_path: Path
) -> None:
    server, credentials = fresh_index
    before = version.read(clone)
    expected = version.bump(before, "minor")
    env = isolated_env(
        TWINE_REPOSITORY_URL=server.url,
        TWINE_USERNAME=credentials.username,
        TWINE_PASSWORD=credentials.password,
        # orm-models' whole suite runs in its own CI session; here the release's code path with
        # the check it never skips (the session refuses a selection without it).
        ORM_RELEASE_PYTEST_ARGS="-k 'test_models_equal_migrated_schema or test_single_head'",
    )
    noxfile = str(clone / "noxfile.py")
    released = run(
        [sys.executable, "-m", "nox", "-f", noxfile, "-s", "release", "--", "minor"], cwd=clone, env=env
    )
    assert released.returncode == 0, released.output
    assert credentials.password not in released.output

    on_index = published_files(server.simple_url, "orm-models", credentials)
    assert set(on_index) == {f"orm_models-{expected}-py3-none-any.whl", f"orm_models-{expected}.tar.gz"}
    assert version.read(clone) == expected
    record = tomllib.loads((clone / "orm-models" / "releases.toml").read_text())["release"][-1]
    assert record["version"] == expected
    assert record["commit"] == _git(clone, "rev-parse", f"orm-models-v{expected}^{{commit}}")
    assert f"## [{expected}] - " in (clone / "CHANGELOG.md").read_text()
    baseline = clone / "orm-models" / "schema-baseline.json"
    if (ROOT / "orm-models" / "schema-baseline.json").exists():
        assert f'"version": "{expected}"' in baseline.read_text(), "the baseline must move to the release"
    assert _git(clone, "status", "--porcelain") == ""

    # A second run publishes nothing new and refuses nothing: the next bump needs a new release.
    republished = run(
        [sys.executable, "-m", "tools.release", "publish"],
        cwd=clone,
        env=env | {"PYTHONPATH": str(clone), "UV": uv_bin()},
    )
    assert republished.returncode == 0, republished.output
    assert f"skip    orm-models {expected}: {server.simple_url} holds all its files" in republished.output

    python = new_venv(tmp_path / "consumer")
    consumer_env = isolated_env(
        UV_INDEX_PRIVATE_USERNAME=credentials.username, UV_INDEX_PRIVATE_PASSWORD=credentials.password
    )
    major = expected.split(".")[0]
    install = run(
        [uv_bin(), "pip", "install", "--quiet", "--python", str(python),
         "--index", f"private={server.simple_url}", "--index-strategy", "first-index",
         f"orm-models>={major},<{int(major) + 1}"],
        env=consumer_env,
    )  # fmt: skip
    assert install.returncode == 0, install.output
    assert installed(python, "orm-models") == expected


def test_changelog_section_takes_unreleased_entries() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n### Added\n- a thing\n\n## [1.0.0] - 2020-01-01\n\n- old\n"
    updated = changelog.add_release(text, "1.1.0", "2026-01-02", generated="### Changed\n- schema")
    assert updated == (
        "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2026-01-02\n\n"
        "### Added\n- a thing\n\n### Changed\n- schema\n\n## [1.0.0] - 2020-01-01\n\n- old\n"
    )
    with pytest.raises(Exception, match="already has a section"):
        changelog.add_release(updated, "1.1.0", "2026-01-02")


def test_changelog_section_has_each_change_type_once() -> None:
    text = (
        "# Changelog\n\n## [Unreleased]\n\nSummary by a human.\n\n### Fixed\n- a bug\n\n"
        "### Added\n- by hand\n  over two lines\n\n## [1.0.0] - 2020-01-01\n\n- old\n"
    )
    generated = "### Added\n- api added\n\n### Changed\n- api extended"
    section = changelog.add_release(text, "1.1.0", "2026-01-02", generated=generated)
    body = section.split("## [1.1.0] - 2026-01-02\n\n", 1)[1].split("\n## [1.0.0]")[0].strip()
    assert body == (
        "Summary by a human.\n\n"
        "### Added\n- api added\n- by hand\n  over two lines\n\n"
        "### Changed\n- api extended\n\n"
        "### Fixed\n- a bug"
    )


def test_changelog_headings_inside_code_blocks_are_text() -> None:
    fenced = "```markdown\n### Removed\n## [9.9.9]\n```"
    unreleased = f"### added:\n- an example:\n\n{fenced}"
    text = f"# Changelog\n\n## [Unreleased]\n\n{unreleased}\n\n## [1.0.0] - 2020-01-01\n"
    section = changelog.add_release(text, "1.1.0", "2026-01-02", generated="### Added\n- api added")
    assert section == (
        "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2026-01-02\n\n"
        f"### Added\n- api added\n- an example:\n\n{fenced}\n\n## [1.0.0] - 2020-01-01\n"
    )


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [("2.0.0", "major", "3.0.0"), ("2.0.3", "minor", "2.1.0"), ("2.1.0", "patch", "2.1.1")],
)
def test_version_bump(current: str, part: str, expected: str) -> None:
    assert version.bump(current, part) == expected
