"""The few git operations a release needs, run without a shell and with their errors surfaced."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.release import ReleaseError


def git(root: Path, *args: str) -> str:
    """git's output without its final newline.

    Only the line ends go: leading blanks carry meaning (`git status --porcelain` starts an
    unstaged change with a space), and stripping them cut the first character off paths.
    """
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.rstrip("\n")


def dirty_paths(root: Path, *paths: str) -> list[str]:
    """Modified, staged or untracked (not ignored) paths, as written in the tree; empty when clean.

    Read from `--porcelain -z`: fixed `XY path` records, NUL-terminated, so paths keep their
    spaces and non-ASCII characters unquoted, and a rename's second record (its old path) is skipped.
    """
    records = git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *paths).split("\0")
    found: list[str] = []
    entries = iter(records)
    for record in entries:
        if not record:
            continue
        status, path = record[:2], record[3:]
        found.append(path)
        if "R" in status or "C" in status:
            next(entries, None)  # the rename's or copy's source path
    return found


def require_clean(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        listing = ", ".join(dirty[:8]) + (" ..." if len(dirty) > 8 else "")
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
