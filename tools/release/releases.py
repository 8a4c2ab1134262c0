"""`orm-models/releases.toml`: every release's version, commit and migration head, append-only."""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tools.release import ReleaseError

RELEASES = Path("orm-models/releases.toml")
VERSIONS_DIR = Path("orm-models/src/orm_models/migrations/versions")


@dataclass(frozen=True)
class Release:
    version: str
    commit: str
    migration_head: str


def load(root: Path) -> list[Release]:
    data = tomllib.loads((root / RELEASES).read_text(encoding="utf-8"))
    return [Release(r["version"], r["commit"], r["migration_head"]) for r in data.get("release", [])]


def append(root: Path, release: Release) -> None:
    """Append one `[[release]]` table in the file's own layout (comments above stay intact)."""
    if any(known.version == release.version for known in load(root)):
        raise ReleaseError(f"{RELEASES} already records {release.version}")
    path = root / RELEASES
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(
        f"{text}\n\n[[release]]\n"
        f'version = "{release.version}"\n'
        f'commit = "{release.commit}"\n'
        f'migration_head = "{release.migration_head}"\n',
        encoding="utf-8",
    )


def migration_head(root: Path) -> str:
    """The single Alembic head among the shipped revisions, read without importing them."""
    revisions: dict[str, str | None] = {}
    for module in sorted((root / VERSIONS_DIR).glob("*.py")):
        names = _assignments(module)
        if "revision" in names:
            revisions[str(names["revision"])] = names.get("down_revision")  # type: ignore[assignment]
    parents = {parent for parent in revisions.values() if parent}
    heads = sorted(set(revisions) - parents)
    if len(heads) != 1:
        raise ReleaseError(f"expected one migration head in {VERSIONS_DIR}, found {heads or 'none'}")
    return heads[0]


def _assignments(module: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        pairs: list[tuple[ast.expr, ast.expr | None]] = []
        if isinstance(node, ast.AnnAssign):
            pairs = [(node.target, node.value)]
        elif isinstance(node, ast.Assign):
            pairs = [(target, node.value) for target in node.targets]
        for target, value in pairs:
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                found[target.id] = value.value
    return found
