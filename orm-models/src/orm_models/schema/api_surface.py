"""The public Python API of a package, read statically with griffe, and its diff.

Static analysis means nothing is imported: the same snapshot comes out of a source tree, an
installed package or an old release checked out from git.
"""

from pathlib import Path
from typing import Any

from .changes import Change
from .rules import classify

# Modules that ship in the package but are not API: revision modules are data for Alembic.
EXCLUDED_MODULES = frozenset({"migrations"})

ApiSnapshot = dict[str, dict[str, Any]]


def api_snapshot(package: str, search_paths: list[Path] | None = None) -> ApiSnapshot:
    """Every public name of `package` and its submodules, with kind and call signature.

    A module with `__all__` exposes exactly those names; one without exposes the public names it
    defines (not the ones it imports). Classes expose their public members; functions and methods
    their parameters.

    Args:
        package: Import name of the package, e.g. `orm_models`.
        search_paths: Where to look for it; `sys.path` when omitted.

    Raises:
        ModuleNotFoundError: griffe is not installed (`pip install 'orm-models[check]'`).
    """
    import griffe

    root = griffe.load(
        package,
        search_paths=[str(path) for path in search_paths] if search_paths else None,
        resolve_aliases=False,
    )
    snapshot: ApiSnapshot = {}
    _walk_module(root, snapshot)
    return dict(sorted(snapshot.items()))


def _public(name: str) -> bool:
    return not name.startswith("_")


def _walk_module(module: Any, snapshot: ApiSnapshot) -> None:
    snapshot[module.path] = {"kind": "module"}
    exports = None if module.exports is None else {str(name) for name in module.exports}
    for name, member in module.members.items():
        if not member.is_alias and member.is_module:
            # A submodule is recorded through its contents, so removing it removes them.
            if _public(name) and name not in EXCLUDED_MODULES:
                _walk_module(member, snapshot)
            continue
        if exports is not None:
            if name not in exports:
                continue
        elif member.is_alias or not _public(name):
            continue
        _describe(f"{module.path}.{name}", member, snapshot)


def _describe(path: str, member: Any, snapshot: ApiSnapshot) -> None:
    if member.is_alias:
        # Re-exported name: record that it exists; its definition is described where it lives.
        snapshot[path] = {"kind": "alias", "target": member.target_path}
        return
    kind = str(member.kind.value)
    entry: dict[str, Any] = {"kind": kind}
    if kind == "function":
        entry["parameters"] = [
            {"name": p.name, "kind": str(p.kind.value), "required": p.default is None and _plain(p)}
            for p in member.parameters
        ]
    snapshot[path] = entry
    if kind == "class":
        for name, child in member.members.items():
            if _public(name) and not child.is_alias:
                _describe(f"{path}.{name}", child, snapshot)


def _plain(parameter: Any) -> bool:
    # *args and **kwargs never have a default yet are never required.
    return str(parameter.kind.value) not in {"variadic positional", "variadic keyword"}


def diff_api(old: ApiSnapshot, new: ApiSnapshot) -> list[Change]:
    """Classify the differences between two API snapshots.

    A removed name, a changed kind, or a call signature that rejects a call the old one accepted
    needs a major release; a new name or a new optional parameter a minor one.
    """
    changes: list[Change] = []
    for path in sorted(old.keys() - new.keys()):
        if not _under_removed(path, old, new):
            changes.append(classify("api_removed", path, f"{old[path]['kind']} removed"))
    for path in sorted(new.keys() - old.keys()):
        if not _under_removed(path, new, old):
            changes.append(classify("api_added", path, f"new {new[path]['kind']}"))
    for path in sorted(old.keys() & new.keys()):
        before, after = old[path], new[path]
        if before["kind"] != after["kind"]:
            changes.append(classify("api_changed", path, f"{before['kind']} -> {after['kind']}"))
        elif before.get("parameters") != after.get("parameters"):
            kind = "api_extended" if _compatible(before["parameters"], after["parameters"]) else "api_changed"
            detail = f"({_signature(before['parameters'])}) -> ({_signature(after['parameters'])})"
            changes.append(classify(kind, path, detail))
    return changes


def _under_removed(path: str, snapshot: ApiSnapshot, other: ApiSnapshot) -> bool:
    """True when a parent of `path` is itself missing from `other`: report the parent only."""
    parts = path.split(".")
    return any(
        ".".join(parts[:i]) in snapshot and ".".join(parts[:i]) not in other for i in range(2, len(parts))
    )


def _compatible(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """Every call the old signature accepted still works: same leading parameters, extras optional."""
    return new[: len(old)] == old and not any(parameter["required"] for parameter in new[len(old) :])


def _signature(parameters: list[dict[str, Any]]) -> str:
    return ", ".join(p["name"] + ("" if p["required"] else "=…") for p in parameters)
