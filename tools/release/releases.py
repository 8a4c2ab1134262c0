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
    """The Alembic heads among the shipped revisions, sorted, space-separated; read without importing.

    From 2.5 the revisions form two branches, expand and contract (one head each): "0003 0004".
    A release up to 2.4 had one chain and one head.
    """
    return " ".join(sorted(branch_heads(root).values()))


def branch_heads(root: Path) -> dict[str, str]:
    """The head of each branch by phase (`{"expand": ..., "contract": ...}`), read without importing."""
    revisions: dict[str, dict[str, object]] = {}
    for module in sorted((root / VERSIONS_DIR).glob("*.py")):
        names = _assignments(module)
        if "revision" in names:
            revisions[str(names["revision"])] = names
    parents = {str(names.get("down_revision")) for names in revisions.values() if names.get("down_revision")}
    heads: dict[str, str] = {}
    for revision, names in sorted(revisions.items()):
        if revision in parents:
            continue
        phase = str(names.get("phase", "expand"))
        if phase in heads:
            raise ReleaseError(f"two {phase} heads in {VERSIONS_DIR}: {heads[phase]} and {revision}")
        heads[phase] = revision
    if "expand" not in heads:
        raise ReleaseError(f"no expand head in {VERSIONS_DIR}")
    return heads


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
