"""Diff the mapped classes: attributes, their loading options, relationships, mapper options."""

from typing import Any

from .changes import Change
from .mapped import EAGER_OR_LAZY
from .rules import classify

# Attribute options that change what a caller gets (raise or SQL on access) vs only when the
# ORM re-reads a value.
_LOADING = ("deferred", "raiseload")


def diff_classes(
    old: dict[str, Any], new: dict[str, Any], column_renames: dict[tuple[str, str], str]
) -> list[Change]:
    """Classes added/removed; per class its attributes, their options, relationships and mapper."""
    changes = []
    for path in sorted(old.keys() - new.keys()):
        changes.append(classify("class_removed", path, f"mapped class of table {old[path]['table']} removed"))
    for path in sorted(new.keys() - old.keys()):
        changes.append(classify("class_added", path, f"maps table {new[path]['table']}"))
    for path in sorted(old.keys() & new.keys()):
        before, after = old[path], new[path]
        if before["table"] != after["table"]:
            detail = f"maps table {after['table']} instead of {before['table']}"
            changes.append(classify("attribute_remapped", path, detail))
        # The column rename is reported on the table; the attribute itself did not change.
        renamed = {o: n for (t, o), n in column_renames.items() if t == after["table"]}
        changes += _diff_attributes(path, before["attributes"], after["attributes"], renamed)
        changes += _diff_attribute_options(
            path, before.get("attribute_options", {}), after.get("attribute_options", {})
        )
        changes += _diff_relationships(path, before.get("relationships", {}), after.get("relationships", {}))
        if before.get("mapper") != after.get("mapper"):
            changes.append(classify("mapper_changed", path, _changed_keys(before["mapper"], after["mapper"])))
    return changes


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return "; ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys)


def _diff_attributes(
    path: str, old: dict[str, str], new: dict[str, str], renamed_columns: dict[str, str]
) -> list[Change]:
    changes = []
    gone, added = old.keys() - new.keys(), new.keys() - old.keys()
    by_column = {column: attribute for attribute, column in new.items() if attribute in added}
    for attribute in sorted(gone):
        successor = by_column.pop(old[attribute], None)
        if successor is not None:
            detail = f"attribute {attribute} -> {successor} (column {old[attribute]} unchanged)"
            changes.append(classify("attribute_renamed", f"{path}.{successor}", detail))
            added = added - {successor}
        else:
            detail = f"no longer maps column {old[attribute]}"
            changes.append(classify("attribute_removed", f"{path}.{attribute}", detail))
    for attribute in sorted(added):
        changes.append(classify("attribute_added", f"{path}.{attribute}", f"maps column {new[attribute]}"))
    for attribute in sorted(old.keys() & new.keys()):
        if old[attribute] != new[attribute] and renamed_columns.get(old[attribute]) != new[attribute]:
            detail = f"maps column {new[attribute]} instead of {old[attribute]}"
            changes.append(classify("attribute_remapped", f"{path}.{attribute}", detail))
    return changes


def _diff_attribute_options(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for attribute in sorted(old.keys() & new.keys()):
        before, after = old[attribute], new[attribute]
        if before == after:
            continue
        loading = any(before.get(key) != after.get(key) for key in _LOADING)
        kind = "attribute_loading_changed" if loading else "attribute_tuning_changed"
        changes.append(classify(kind, f"{path}.{attribute}", _changed_keys(before, after)))
    return changes


def _diff_relationships(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        subject = f"{path}.{key}"
        if key not in new:
            changes.append(
                classify("relationship_removed", subject, f"relationship to {old[key]['target']} removed")
            )
        elif key not in old:
            changes.append(classify("relationship_added", subject, f"relationship to {new[key]['target']}"))
        elif old[key] != new[key]:
            changes.append(
                classify(_relationship_kind(old[key], new[key]), subject, _changed_keys(old[key], new[key]))
            )
    return changes


def _relationship_kind(old: dict[str, Any], new: dict[str, Any]) -> str:
    moved = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    if moved == {"lazy"} and old["lazy"] in EAGER_OR_LAZY and new["lazy"] in EAGER_OR_LAZY:
        return "relationship_loading"
    if moved == {"back_populates"} and old["back_populates"] is None:
        return "relationship_extended"
    return "relationship_changed"
