"""Build orm-models from a committed tree (never the working copy), then check what came out."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from tools.release import ReleaseError
from tools.release.git import git
from tools.release.version import read as read_version

PACKAGE_DIR = "orm-models"


def expected_names(version: str) -> list[str]:
    """The exact files a release consists of: one pure-Python wheel and one sdist."""
    return [f"orm_models-{version}-py3-none-any.whl", f"orm_models-{version}.tar.gz"]


def export(root: Path, commit: str, destination: Path) -> Path:
    """`orm-models/` as committed at `commit`, extracted under `destination`."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", commit, PACKAGE_DIR],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise ReleaseError(f"git archive {commit} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return destination / PACKAGE_DIR


def build(root: Path, commit: str, out_dir: Path, uv: str, work_dir: Path) -> list[Path]:
    """Wheel and sdist of `commit` with hatchling (through `uv build`), names and metadata checked.

    Hatchling builds are reproducible, so rebuilding a recorded release from its commit gives
    byte-identical files: that is what makes re-publishing idempotent.
    """
    commit = git(root, "rev-parse", "--verify", f"{commit}^{{commit}}")
    if work_dir.resolve().is_relative_to(root.resolve()):
        # Hatchling would pick up the repository's ignore files around the export: not reproducible.
        raise ReleaseError(f"build scratch directory {work_dir} must be outside the repository")
    source = work_dir / f"src-{commit[:12]}"
    if source.exists():
        shutil.rmtree(source)
    project = export(root, commit, source)
    version = read_version(project.parent)  # the export keeps the repository layout
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in expected_names(version):
        (out_dir / name).unlink(missing_ok=True)
    result = subprocess.run(
        [uv, "build", "--quiet", "--sdist", "--wheel", "--out-dir", str(out_dir), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"building orm-models {version} failed: {result.stderr.strip()}")
    dists = [out_dir / name for name in expected_names(version)]
    missing = [dist.name for dist in dists if not dist.is_file()]
    if missing:
        produced = sorted(p.name for p in out_dir.iterdir())
        raise ReleaseError(f"build of {version} did not produce {missing}; {out_dir} holds {produced}")
    return dists


def twine_check(dists: list[Path]) -> None:
    """`twine check --strict`: the long description renders and the metadata is complete."""
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"twine check --strict failed:\n{result.stdout}{result.stderr}")
