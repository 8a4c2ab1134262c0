"""The orm-models version lives in `src/orm_models/__about__.py`; hatchling reads it from there.

Versions are parsed and bumped with `packaging.version` (PEP 440); the file is read and written
through Python's own syntax tree, not a pattern.
"""

from __future__ import annotations

import ast
from pathlib import Path

from packaging.version import InvalidVersion, Version

from tools.release import ReleaseError

ABOUT = Path("orm-models/src/orm_models/__about__.py")
PARTS = ("major", "minor", "patch")


def parse(version: str) -> Version:
    """A final MAJOR.MINOR.PATCH release version (what this project publishes), else ReleaseError."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise ReleaseError(f"{version!r} is not a MAJOR.MINOR.PATCH version") from None
    if len(parsed.release) != 3 or parsed.is_prerelease or parsed.is_postrelease or parsed.local:
        raise ReleaseError(f"{version!r} is not a MAJOR.MINOR.PATCH version")
    return parsed


def bump(version: str, part: str) -> str:
    """The next version: `major` resets minor and patch, `minor` resets patch."""
    major, minor, patch = parse(version).release
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ReleaseError(f"unknown version part {part!r}: use one of {', '.join(PARTS)}")


def _assignment(text: str) -> ast.Constant:
    for node in ast.parse(text).body:
        if not isinstance(node, ast.Assign):
            continue
        named = any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
        if named and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node.value
    raise ReleaseError(f'no `__version__ = "..."` line in {ABOUT}')


def read(root: Path) -> str:
    return str(_assignment((root / ABOUT).read_text(encoding="utf-8")).value)


def write(root: Path, version: str) -> None:
    """Replace the version literal in place; every other byte of the file stays as it was."""
    path = root / ABOUT
    text = path.read_text(encoding="utf-8")
    node = _assignment(text)
    lines = text.splitlines(keepends=True)
    line = lines[node.lineno - 1]
    if node.end_col_offset is None or node.end_lineno != node.lineno:
        raise ReleaseError(f"the __version__ literal in {ABOUT} must sit on one line")
    # ast offsets are in UTF-8 bytes.
    encoded = line.encode()
    encoded = encoded[: node.col_offset] + f'"{version}"'.encode() + encoded[node.end_col_offset :]
    lines[node.lineno - 1] = encoded.decode()
    path.write_text("".join(lines), encoding="utf-8")
