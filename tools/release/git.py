"""The few git operations a release needs, run without a shell and with their errors surfaced."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.release import ReleaseError


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def dirty_paths(root: Path, *paths: str) -> list[str]:
    """Modified, staged or untracked (not ignored) paths; empty when the tree is clean."""
    return git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths).splitlines()


def require_clean(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        listing = ", ".join(line[3:] for line in dirty[:8]) + (" ..." if len(dirty) > 8 else "")
        raise ReleaseError(
            f"refusing to release from a dirty tree ({len(dirty)} uncommitted path(s): {listing}); "
            "commit or stash them first"
        )


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def require_identity(root: Path) -> str:
    """The committer `git commit` will use; a release refuses to start without one."""
    result = subprocess.run(
        ["git", "-C", str(root), "var", "GIT_COMMITTER_IDENT"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ReleaseError(
            "git has no identity to commit the release with: set it with "
            "`git config user.name ...` and `git config user.email ...`"
        )
    return result.stdout.rsplit(">", 1)[0] + ">"


def restore(root: Path, *paths: str) -> None:
    """Put `paths` back as HEAD has them, in the index and the working tree."""
    subprocess.run(
        ["git", "-C", str(root), "reset", "--quiet", "--", *paths], capture_output=True, check=False
    )
    subprocess.run(
        ["git", "-C", str(root), "checkout", "--quiet", "HEAD", "--", *paths],
        capture_output=True,
        check=False,
    )


def commit(root: Path, message: str, *paths: str) -> str:
    """Commit exactly `paths`; if the commit fails, unstage them again (their edits stay on disk)."""
    git(root, "add", "--", *paths)
    try:
        git(root, "commit", "--quiet", "-m", message, "--", *paths)
    except ReleaseError:
        subprocess.run(
            ["git", "-C", str(root), "reset", "--quiet", "--", *paths], capture_output=True, check=False
        )
        raise
    return head(root)
