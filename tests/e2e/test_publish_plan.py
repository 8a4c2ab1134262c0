"""`publish.plan` on its own: what an upload would do, decided from the index's hashes (no index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.release import ReleaseError
from tools.release.distfiles import dist_key
from tools.release.publish import plan, sha256

WHEEL = "orm_models-2.1.0-py3-none-any.whl"
SDIST = "orm_models-2.1.0.tar.gz"


def _file(directory: Path, name: str, content: str) -> Path:
    path = directory / name
    path.write_text(content)
    return path


def test_new_version_is_uploaded_identical_files_are_skipped(tmp_path: Path) -> None:
    old = _file(tmp_path, WHEEL, "2.1.0 wheel")
    new = [
        _file(tmp_path, "orm_models-2.2.0-py3-none-any.whl", "w"),
        _file(tmp_path, "orm_models-2.2.0.tar.gz", "s"),
    ]
    steps = plan([old, *new], {WHEEL: sha256(old), SDIST: "0" * 64})
    assert steps.skip == [old]
    assert steps.upload == new


def test_same_name_different_content_is_refused(tmp_path: Path) -> None:
    wheel = _file(tmp_path, WHEEL, "rebuilt")
    with pytest.raises(ReleaseError, match="already holds a different file for the same version"):
        plan([wheel], {WHEEL: "0" * 64})


@pytest.mark.parametrize(
    "name",
    [
        "orm_models-2.1.0-1-py3-none-any.whl",  # a build tag: sorts above the original for installers
        "orm_models-2.1.0-py3-none-manylinux_2_17_x86_64.whl",
        "orm_models-2.1.0.tar.gz",  # an sdist added after the wheel
        "orm_models-2.1-py3-none-any.whl",  # the same version, spelt differently
        "orm-models-2.1.0.zip",
    ],
)
def test_a_new_file_for_a_published_version_is_refused(tmp_path: Path, name: str) -> None:
    extra = _file(tmp_path, name, "another file of 2.1.0")
    wheel = _file(tmp_path, WHEEL, "2.1.0 wheel")
    with pytest.raises(ReleaseError) as refused:
        plan([wheel, extra], {WHEEL: sha256(wheel)})
    message = str(refused.value)
    assert "published versions are immutable" in message
    assert f"{name} (its version is already published as {WHEEL})" in message


def test_other_projects_and_versions_do_not_block(tmp_path: Path) -> None:
    wheel = _file(tmp_path, "orm_models-2.1.1-py3-none-any.whl", "2.1.1")
    steps = plan([wheel], {"other_project-2.1.1-py3-none-any.whl": None, "orm_models-2.1.0.tar.gz": None})
    assert steps.upload == [wheel]


def test_not_a_distribution_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="not a wheel or sdist file name"):
        plan([_file(tmp_path, "notes.txt", "")], {})


@pytest.mark.parametrize(
    ("name", "key"),
    [
        (WHEEL, ("orm-models", "2.1")),
        ("orm_models-2.1.0-7-py3-none-any.whl", ("orm-models", "2.1")),
        ("orm-models-2.1.0rc1.tar.gz", ("orm-models", "2.1rc1")),
        ("orm_models-2.1.0.zip", ("orm-models", "2.1")),
        ("orm_models-2.1.0.exe", None),
        ("index.html", None),
    ],
)
def test_dist_key(name: str, key: tuple[str, str] | None) -> None:
    assert dist_key(name) == key
