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
    entry: dict[str, Any] = {"kind": "module"}
    snapshot[module.path] = entry
    exports = None if module.exports is None else {str(name) for name in module.exports}
    if exports is not None:
        # Re-exported names, by what they import. Recorded apart from the members because a
        # submodule of the same name (`orm_models.migrate`) would otherwise hide the function
        # `from orm_models import migrate` gives.
        entry["exports"] = {
            name: str(module.imports[name]) for name in sorted(exports & module.imports.keys())
        }
    for name, member in module.members.items():
        if not member.is_alias and member.is_module:
            # A submodule is recorded through its contents, so removing it removes them.
            if _public(name) and name not in EXCLUDED_MODULES:
                _walk_module(member, snapshot)
            continue
        if member.is_alias:
            continue  # an import: recorded in `exports` when the module exports it
        if (exports is not None and name not in exports) or (exports is None and not _public(name)):
            continue
        _describe(f"{module.path}.{name}", member, snapshot)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _describe(path: str, member: Any, snapshot: ApiSnapshot, *, enum_member: bool = False) -> None:
    kind = str(member.kind.value)
    entry: dict[str, Any] = {"kind": kind}
    labels = sorted(str(label) for label in member.labels)
    if labels:
        entry["labels"] = labels
    if kind == "function":
        entry["parameters"] = [
            {
                "name": p.name,
                "kind": str(p.kind.value),
                "required": p.default is None and _plain(p),
                "default": _text(p.default),
                "annotation": _text(p.annotation),
            }
            for p in member.parameters
        ]
        entry["returns"] = _text(member.returns)
    elif kind == "attribute":
        entry["annotation"] = _text(member.annotation)
        if enum_member:
            # An enum member's value is what is stored and compared; other values are
            # implementation (a mapped_column(...) call is compared as schema, not as text).
            entry["value"] = _text(member.value)
    elif kind == "class":
        entry["bases"] = [str(base) for base in member.bases]
    snapshot[path] = entry
    if kind == "class":
        is_enum = any(str(base).split(".")[-1] in _ENUM_BASES for base in member.bases)
        for name, child in member.members.items():
            if _public(name) and not child.is_alias:
                _describe(f"{path}.{name}", child, snapshot, enum_member=is_enum)


# Base classes whose class attributes are enum members (their values are API).
_ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"})


def _plain(parameter: Any) -> bool:
    # *args and **kwargs never have a default yet are never required.
    return str(parameter.kind.value) not in {"variadic positional", "variadic keyword"}


def diff_api(old: ApiSnapshot, new: ApiSnapshot) -> list[Change]:
    """Classify the differences between two API snapshots.

    A removed name, a changed kind, a changed default, annotation, return annotation or enum
    value, or a call signature that rejects a call the old one accepted needs a major release;
    a new name, a new optional parameter or a parameter that became optional a minor one.
    """
    changes: list[Change] = []
    for path in sorted(old.keys() - new.keys()):
        if not _under_removed(path, old, new):
            changes.append(classify("api_removed", path, f"{old[path]['kind']} removed"))
    for path in sorted(new.keys() - old.keys()):
        if not _under_removed(path, new, old):
            changes.append(classify("api_added", path, f"new {new[path]['kind']}"))
    for path in sorted(old.keys() & new.keys()):
        changes += _diff_entry(path, old[path], new[path])
    return changes


def _diff_entry(path: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    if before["kind"] != after["kind"]:
        return [classify("api_changed", path, f"{before['kind']} -> {after['kind']}")]
    changes = []
    if before.get("exports") != after.get("exports"):
        changes += _diff_exports(path, before.get("exports") or {}, after.get("exports") or {})
    for key in ("labels", "returns", "annotation", "value"):
        if before.get(key) != after.get(key) and not _respelt(key, before.get(key), after.get(key)):
            detail = f"{key}: {before.get(key)} -> {after.get(key)}"
            # A function that returned None had no result for callers to rely on, and a return
            # type that lost members of its union gives callers nothing they did not handle.
            safe = key == "returns" and (
                before.get(key) == "None" or _widens(after.get(key), before.get(key))
            )
            changes.append(classify("api_extended" if safe else "api_changed", path, detail))
    if before.get("bases") != after.get("bases"):
        kept = all(base in after.get("bases", []) for base in before.get("bases", []))
        detail = f"bases ({', '.join(before.get('bases', []))}) -> ({', '.join(after.get('bases', []))})"
        changes.append(classify("api_extended" if kept else "api_changed", path, detail))
    if _spelt(before.get("parameters")) != _spelt(after.get("parameters")):
        old_parameters, new_parameters = before["parameters"], after["parameters"]
        kind = "api_extended" if _compatible(old_parameters, new_parameters) else "api_changed"
        detail = f"({_signature(old_parameters)}) -> ({_signature(new_parameters)})"
        changes.append(classify(kind, path, detail))
    return changes


def _diff_exports(path: str, old: dict[str, str], new: dict[str, str]) -> list[Change]:
    changes = []
    for name in sorted(old.keys() | new.keys()):
        subject = f"{path}.{name}"
        if name not in new:
            changes.append(classify("api_removed", subject, f"no longer re-exported (was {old[name]})"))
        elif name not in old:
            changes.append(classify("api_added", subject, f"re-exports {new[name]}"))
        elif old[name] != new[name]:
            changes.append(classify("api_changed", subject, f"re-exports {new[name]} instead of {old[name]}"))
    return changes


def _under_removed(path: str, snapshot: ApiSnapshot, other: ApiSnapshot) -> bool:
    """True when a parent of `path` is itself missing from `other`: report the parent only."""
    parts = path.split(".")
    return any(
        ".".join(parts[:i]) in snapshot and ".".join(parts[:i]) not in other for i in range(2, len(parts))
    )


def _compatible(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """Every call the old signature accepted still works and means the same.

    Same leading parameters (name, kind, default; an annotation that admits at least what it
    admitted); a required one may become optional, never the reverse; parameters after them
    must be optional.
    """
    if len(new) < len(old):
        return False
    for before, after in zip(old, new, strict=False):
        same = all(before[key] == after[key] for key in ("name", "kind"))
        # A parameter may accept more (`Connection` -> `Connection | Engine`), never less.
        if (
            not same
            or not _widens(before["annotation"], after["annotation"])
            or (after["required"] and not before["required"])
        ):
            return False
        if not before["required"] and before["default"] != after["default"]:
            return False  # an old call that omitted it now gets another value
    return not any(parameter["required"] for parameter in new[len(old) :])


def _respelt(key: str, old: Any, new: Any) -> bool:
    """The same annotation spelt another way (`Optional[int]` and `int | None`)."""
    if key not in ("returns", "annotation") or not isinstance(old, str) or not isinstance(new, str):
        return False
    return _union_members(old) == _union_members(new)


def _spelt(parameters: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Parameters with each annotation as its set of union members: a respelling is no change."""
    if parameters is None:
        return None
    return [
        {**p, "annotation": sorted(_union_members(p["annotation"])) if p.get("annotation") else None}
        for p in parameters
    ]


def _widens(old: str | None, new: str | None) -> bool:
    """True when the annotation `new` admits every type `old` admitted (same, or a wider union)."""
    if old == new:
        return True
    if not old or not new:
        return False  # an annotation appeared or vanished: no basis to call it compatible
    return _union_members(old) <= _union_members(new)


def _union_members(annotation: str) -> set[str]:
    """`A | B[C | D] | None` -> {"A", "B[C | D]", "None"}: the top-level members of a union.

    `Optional[X]` and `Union[A, B]` (with or without `typing.`) are the same unions spelt the
    old way, so a switch of spelling is no change and `Optional[int]` -> `int | str | None` widens.
    """
    members: set[str] = set()
    for member in _split_top_level(annotation, "|"):
        name, _, rest = member.partition("[")
        if rest.endswith("]") and name.removeprefix("typing.") in {"Optional", "Union"}:
            inner = {m for part in _split_top_level(rest[:-1], ",") for m in _union_members(part)}
            members |= inner | ({"None"} if name.endswith("Optional") else set())
        else:
            members.add(member)
    return members


def _split_top_level(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside brackets, each part stripped."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _signature(parameters: list[dict[str, Any]]) -> str:
    return ", ".join(
        p["name"]
        + (f": {p['annotation']}" if p.get("annotation") else "")
        + ("" if p["required"] else f"={p.get('default')}")
        for p in parameters
    )
