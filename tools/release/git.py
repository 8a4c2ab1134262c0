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


def commit(root: Path, message: str, *paths: str) -> str:
    git(root, "add", "--", *paths)
    git(root, "commit", "--quiet", "-m", message, "--", *paths)
    return head(root)
