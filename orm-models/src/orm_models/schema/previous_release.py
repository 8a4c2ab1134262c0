"""The previous release, installed in a virtualenv of its own, for the witnesses to run.

From the private index when `ORM_INDEX_URL` is set and serves it, else built with hatchling
(`uv build`) from the commit `releases.toml` records for it (`git archive`: no work tree is
touched). Both the built wheel and the virtualenv are cached under
`$XDG_CACHE_HOME/orm-models/witness/` (a release never changes), so only the first check after a
release pays for them. Two checks at once each build into a private directory and rename it into
place; the loser of that race uses the winner's.
"""

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

RELEASES_NAME = "releases.toml"
PACKAGE_DIR = "orm-models"


class PreviousReleaseError(RuntimeError):
    """The previous release can be neither fetched nor built; the message says why."""


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise PreviousReleaseError(
                "uv is needed to install the previous release: pip install uv"
            ) from None
        return found


def cache_root() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "orm-models" / "witness"


def release_commit(baseline: Path, version: str) -> tuple[Path, str]:
    """(repository root, commit) of `version` from the `releases.toml` beside the baseline.

    Raises:
        PreviousReleaseError: No releases.toml there, or it does not list `version`.
    """
    releases = baseline.resolve().parent / RELEASES_NAME
    if not releases.is_file():
        raise PreviousReleaseError(f"no {RELEASES_NAME} beside {baseline} to find release {version}")
    with releases.open("rb") as file:
        recorded = {str(r["version"]): str(r["commit"]) for r in tomllib.load(file).get("release", [])}
    if version not in recorded:
        raise PreviousReleaseError(f"{releases} does not record release {version}")
    root = _git(releases.parent, "rev-parse", "--show-toplevel").strip()
    return Path(root), recorded[version]


def _git(where: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PreviousReleaseError(f"git {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def built_wheel(root: Path, commit: str, version: str) -> Path:
    """The wheel of `version` built from `commit` (cached by commit)."""
    wheels = cache_root() / "wheels" / commit
    wheel = wheels / f"orm_models-{version}-py3-none-any.whl"
    if wheel.is_file():
        return wheel
    wheels.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", commit, PACKAGE_DIR],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise PreviousReleaseError(
            f"git archive {commit} (release {version}) failed: {archive.stderr.decode().strip()} "
            "(a shallow clone lacks the history; fetch it, or set ORM_INDEX_URL)"
        )
    # Outside the repository: hatchling would otherwise read the checkout's ignore files.
    with tempfile.TemporaryDirectory(prefix="orm-models-previous-") as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(scratch, filter="data")
        out = Path(scratch) / "dist"
        result = subprocess.run(
            [_uv(), "build", "--quiet", "--wheel", "--out-dir", str(out), str(Path(scratch) / PACKAGE_DIR)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not (out / wheel.name).is_file():
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise PreviousReleaseError(f"building orm-models {version} from {commit[:12]} failed: {last}")
        os.replace(out / wheel.name, wheel)  # atomic: a concurrent check sees no half-written wheel
    return wheel


def _install(
    venv: Path, *requirement: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *requirement],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def _from_index(venv: Path, version: str) -> str | None:
    """Install `version` from the private index; None when it worked, else why not."""
    url = os.environ.get("ORM_INDEX_URL")
    if not url:
        return "ORM_INDEX_URL is not set"
    simple = os.environ.get("ORM_INDEX_SIMPLE_URL") or url.rstrip("/") + "/simple/"
    # orm-models only ever from the private index (the first that holds it), as the services do.
    args = ["--index", f"private={simple}", "--index-strategy", "first-index", f"orm-models=={version}"]
    result = _install(venv, *args)
    if result.returncode != 0:
        return (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    return None


def previous_release_python(baseline: Path, version: str) -> tuple[Path, str]:
    """(python of a venv holding orm-models `version`, where it came from).

    Raises:
        PreviousReleaseError: Neither the index nor the recorded commit provides it.
    """
    venvs = cache_root() / "venvs"
    venv = venvs / version
    python = venv / "bin" / "python"
    if (venv / "installed-from").is_file() and python.exists():
        return python, (venv / "installed-from").read_text(encoding="utf-8").strip() + " (cached)"
    if venv.exists():  # left by a run that died, or its base interpreter is gone: rebuild it
        shutil.rmtree(venv, ignore_errors=True)
    venvs.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=venvs))
    try:
        created = subprocess.run(
            [_uv(), "venv", "--quiet", "--python", str(Path(sys.executable).resolve()), str(scratch)],
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0:
            raise PreviousReleaseError(f"cannot create a virtualenv: {created.stderr.strip()}")
        why_not = _from_index(scratch, version)
        source = "the private index"
        if why_not is not None:
            root, commit = release_commit(baseline, version)
            wheel = built_wheel(root, commit, version)
            result = _install(scratch, str(wheel))
            if result.returncode != 0:
                raise PreviousReleaseError(f"installing {wheel.name} failed: {result.stderr.strip()}")
            source = f"built from commit {commit[:12]} ({why_not})"
        (scratch / "installed-from").write_text(source + "\n", encoding="utf-8")
        try:
            scratch.rename(venv)
        except OSError:  # another check got there first: its venv is as good as ours
            shutil.rmtree(scratch, ignore_errors=True)
        return python, source
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
