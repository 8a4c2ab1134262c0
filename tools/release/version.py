"""The orm-models version lives in `src/orm_models/__about__.py`; hatchling reads it from there."""

from __future__ import annotations

import re
from pathlib import Path

from tools.release import ReleaseError

ABOUT = Path("orm-models/src/orm_models/__about__.py")
PARTS = ("major", "minor", "patch")
_ASSIGNMENT = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def parse(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if match is None:
        raise ReleaseError(f"{version!r} is not a MAJOR.MINOR.PATCH version")
    major, minor, patch = (int(group) for group in match.groups())
    return major, minor, patch


def bump(version: str, part: str) -> str:
    """The next version: `major` resets minor and patch, `minor` resets patch."""
    major, minor, patch = parse(version)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ReleaseError(f"unknown version part {part!r}: use one of {', '.join(PARTS)}")


def read(root: Path) -> str:
    match = _ASSIGNMENT.search((root / ABOUT).read_text(encoding="utf-8"))
    if match is None:
        raise ReleaseError(f'no `__version__ = "..."` line in {ABOUT}')
    return match["version"]


def write(root: Path, version: str) -> None:
    path = root / ABOUT
    text = path.read_text(encoding="utf-8")
    path.write_text(_ASSIGNMENT.sub(f'__version__ = "{version}"', text, count=1), encoding="utf-8")
