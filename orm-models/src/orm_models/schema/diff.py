"""Diff two manifests into classified changes (tables, columns, constraints, mapped classes, API)."""

from typing import Any

from .api_surface import diff_api
from .changes import Change, Impact
from .diff_classes import diff_classes
from .diff_constraints import diff_constraints, new_table_foreign_keys
from .equivalences import same_default
from .manifest import Manifest
from .rules import classify
from .type_changes import TypeChange, compare_types


def diff_manifests(old: Manifest, new: Manifest) -> list[Change]:
    """Every difference from `old` (the baseline) to `new` (the current models), classified.

    Renames are recognised from the mapped classes: an attribute that keeps its name but maps a
    new column of the same table, or a class that keeps its name but maps a new table.
    """
    table_renames = _table_renames(old, new)
    column_renames = _column_renames(old, new)
    changes = diff_tables(old["tables"], new["tables"], table_renames, column_renames)
    changes += diff_sequences(old.get("sequences", {}), new.get("sequences", {}))
    changes += diff_classes(old["classes"], new["classes"], column_renames)
    changes += diff_api(old.get("api", {}), new.get("api", {}))
    changes += _diff_revisions(old.get("migrations"), new.get("migrations"))
    return changes


def diff_tables(
    old_tables: dict[str, Any],
    new_tables: dict[str, Any],
    table_renames: dict[str, str] | None = None,
    column_renames: dict[tuple[str, str], str] | None = None,
) -> list[Change]:
    """The classified changes between two `tables` sections (models or reflected databases)."""
    table_renames, column_renames = table_renames or {}, column_renames or {}
    changes: list[Change] = []
    for name in sorted(old_tables.keys() - new_tables.keys()):
        if name not in table_renames:
            changes.append(classify("drop_table", name, "table dropped", table=name))
    for name in sorted(new_tables.keys() - old_tables.keys()):
        renamed_from = next((o for o, n in table_renames.items() if n == name), None)
        if renamed_from is not None:
            changes.append(classify("rename_table", name, f"renamed from {renamed_from}", table=name))
            changes += _diff_table(
                name, old_tables[renamed_from], new_tables[name], column_renames, old_tables
            )
        else:
            columns = ", ".join(new_tables[name]["columns"])
            changes.append(classify("add_table", name, f"new table ({columns})", table=name))
            # Its foreign keys still act on the tables they reference.
            changes += new_table_foreign_keys(name, new_tables[name], old_tables)
    for name in sorted(old_tables.keys() & new_tables.keys()):
        changes += _diff_table(name, old_tables[name], new_tables[name], column_renames, old_tables)
    return changes


def diff_sequences(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Sequences added, dropped, or with other options (bounds and steps vs START/CACHE)."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        subject = f"sequence {name}"
        if name not in new:
            changes.append(classify("drop_sequence", subject, "sequence dropped"))
        elif name not in old:
            changes.append(classify("add_sequence", subject, "new sequence"))
        else:
            changes += _diff_options(subject, old[name], new[name], "change_sequence", "tune_sequence")
    return changes


# Options of an identity or sequence that only shape future values' spacing or speed.
_TUNING = frozenset({"start", "cache", "start_value", "cache_size"})


def _diff_options(
    subject: str, old: dict[str, Any], new: dict[str, Any], major: str, patch: str
) -> list[Change]:
    changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    if not changed:
        return []
    detail = "; ".join(f"{key} {old.get(key)} -> {new.get(key)}" for key in changed)
    # GENERATED ALWAYS -> BY DEFAULT only accepts more.
    relaxed = {"always"} if old.get("always") and not new.get("always") else set()
    breaking = [key for key in changed if key not in _TUNING and key not in relaxed]
    return [classify(major if breaking else patch, subject, detail)]


def _diff_revisions(old: list[str] | None, new: list[str] | None) -> list[Change]:
    """Revisions `new` ships that `old` did not (unknown when a manifest predates the list, 2.2)."""
    if old is None or new is None:
        return []
    return [
        classify("revision_added", f"revision {revision}", "new migration revision")
        for revision in new
        if revision not in old
    ]


def _table_renames(old: Manifest, new: Manifest) -> dict[str, str]:
    renames = {}
    for path, mapped in old["classes"].items():
        now = new["classes"].get(path)
        moved = now is not None and now["table"] != mapped["table"]
        if moved and mapped["table"] not in new["tables"] and now["table"] not in old["tables"]:
            renames[mapped["table"]] = now["table"]
    return renames


def _column_renames(old: Manifest, new: Manifest) -> dict[tuple[str, str], str]:
    """(new table, old column) -> new column, for attributes that now map another column."""
    renames = {}
    for path, mapped in old["classes"].items():
        now = new["classes"].get(path)
        if not now:
            continue
        table = now["table"]
        old_columns = old["tables"].get(mapped["table"], {}).get("columns", {})
        new_columns = new["tables"].get(table, {}).get("columns", {})
        for attribute, column in mapped["attributes"].items():
            target = now["attributes"].get(attribute)
            if target and target != column and column not in new_columns and target not in old_columns:
                renames[(table, column)] = target
    return renames


def _diff_table(
    table: str,
    old: dict[str, Any],
    new: dict[str, Any],
    renames: dict[tuple[str, str], str],
    old_tables: dict[str, Any],
) -> list[Change]:
    changes: list[Change] = []
    old_columns, new_columns = old["columns"], new["columns"]
    renamed_to = {o: n for (t, o), n in renames.items() if t == table and o in old_columns}
    dropped, added = old_columns.keys() - new_columns.keys(), new_columns.keys() - old_columns.keys()
    if not renamed_to and len(dropped) == 1 and len(added) == 1:
        (gone,), (came,) = dropped, added
        if old_columns[gone] == new_columns[came]:
            # Same definition, one out and one in: most likely a rename, which is what breaks.
            renamed_to = {gone: came}
    for name in sorted(dropped):
        if name in renamed_to:
            target = renamed_to[name]
            detail = f"renamed from {table}.{name}"
            changes.append(classify("rename_column", f"{table}.{target}", detail, table=table, column=target))
            changes += _diff_column(table, target, old_columns[name], new_columns[target])
        else:
            changes.append(classify("drop_column", f"{table}.{name}", "column dropped", **_at(table, name)))
    new_names = {name for name in added if name not in renamed_to.values()}
    for name in sorted(new_names):
        changes.append(_added_column(table, name, new_columns[name]))
    for name in sorted(old_columns.keys() & new_columns.keys()):
        changes += _diff_column(table, name, old_columns[name], new_columns[name])
    changes += diff_constraints(table, old, new, new_names, old_tables)
    for key, kind in (("comment", "change_comment"), ("options", "change_table_options")):
        if old.get(key) != new.get(key):
            changes.append(classify(kind, table, f"{key}: {old.get(key)} -> {new.get(key)}", table=table))
    if old.get("prefixes") != new.get("prefixes"):
        detail = f"prefixes: {old.get('prefixes')} -> {new.get('prefixes')}"
        changes.append(classify("change_table_options", table, detail, table=table))
    return changes


def _at(table: str, column: str) -> dict[str, Any]:
    return {"table": table, "column": column}


def _added_column(table: str, name: str, column: dict[str, Any]) -> Change:
    subject = f"{table}.{name}"
    kind = column["type"]
    if column["nullable"]:
        return classify("add_column_nullable", subject, f"{kind}, nullable", **_at(table, name))
    if column["server_default"] or column["identity"] or column.get("computed"):
        return classify(
            "add_column_server_default",
            subject,
            f"{kind}, NOT NULL, filled by the database",
            **_at(table, name),
        )
    # A Python-side default= is applied by the new models only; old writers never send it.
    why = (
        "Python-side default= only, invisible to old writers"
        if column.get("python_default")
        else "no default"
    )
    return classify("add_column_not_null", subject, f"{kind}, NOT NULL, {why}", **_at(table, name))


def _diff_column(table: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    subject, at = f"{table}.{name}", _at(table, name)
    changes = _diff_type(subject, old, new, at)
    if old["nullable"] and not new["nullable"]:
        changes.append(classify("set_not_null", subject, "nullable -> NOT NULL", **at))
    elif new["nullable"] and not old["nullable"]:
        changes.append(
            classify("drop_not_null", subject, "NOT NULL -> nullable (readers may get None)", **at)
        )
    if old["primary_key"] != new["primary_key"]:
        detail = f"primary key member {old['primary_key']} -> {new['primary_key']}"
        changes.append(classify("change_primary_key", subject, detail, **at))
    changes += _diff_server_default(subject, old, new, at)
    for key, label in (("python_default", "default="), ("python_onupdate", "onupdate=")):
        before, after = old.get(key), new.get(key)
        if before != after:
            kind = (
                "python_default_added"
                if before is None
                else "python_default_removed"
                if after is None
                else "python_default_changed"
            )
            changes.append(classify(kind, subject, f"Python {label} {before} -> {after}", **at))
    if (old["identity"] is None) != (new["identity"] is None):
        kind = "add_identity" if new["identity"] else "drop_identity"
        changes.append(classify(kind, subject, kind.replace("_", " "), **at))
    elif old["identity"] != new["identity"]:
        changes += [
            classify(c.kind, subject, f"identity {c.detail}", **at)
            for c in _diff_options(
                subject, old["identity"], new["identity"], "change_identity", "tune_identity"
            )
        ]
    changes += _diff_computed(subject, old.get("computed"), new.get("computed"), at)
    if old.get("comment") != new.get("comment"):
        changes.append(
            classify(
                "change_comment", subject, f"comment {old.get('comment')!r} -> {new.get('comment')!r}", **at
            )
        )
    if old.get("options") != new.get("options"):
        changes.append(
            classify("change_column_options", subject, f"{old.get('options')} -> {new.get('options')}", **at)
        )
    if old.get("server_onupdate") != new.get("server_onupdate") or old.get("autoincrement") != new.get(
        "autoincrement"
    ):
        detail = f"server_onupdate/autoincrement {old.get('server_onupdate')}/{old.get('autoincrement')} -> "
        detail += f"{new.get('server_onupdate')}/{new.get('autoincrement')}"
        changes.append(classify("attribute_tuning_changed", subject, detail, **at))
    return changes


def _diff_type(subject: str, old: dict[str, Any], new: dict[str, Any], at: dict[str, Any]) -> list[Change]:
    changes = []
    if old["type"] != new["type"]:
        relation = compare_types(old["type"], new["type"])
        detail = f"{old['type']} -> {new['type']}"
        if relation is TypeChange.WIDEN:
            changes.append(classify("widen_type", subject, detail, **at))
        elif relation is TypeChange.WIDEN_REWRITE:
            also = frozenset({Impact.LOCKS})
            changes.append(classify("widen_type", subject, f"{detail} (rewrites the table)", also=also, **at))
        elif relation is TypeChange.NARROW:
            changes.append(classify("narrow_type", subject, detail, **at))
        elif relation is TypeChange.EQUIVALENT:
            changes.append(classify("equivalent_type", subject, f"{detail}: the same type", **at))
        else:
            changes.append(classify("change_type", subject, detail, **at))
    if old.get("collation") != new.get("collation"):
        detail = f"collation {old.get('collation')} -> {new.get('collation')}"
        changes.append(classify("change_collation", subject, detail, **at))
    before, after = old.get("enum"), new.get("enum")
    if before and after and before != after:
        changes += _diff_enum(subject, before, after, at)
    elif (before is None) != (after is None):
        changes.append(classify("enum_storage_changed", subject, f"enum {before} -> {after}", **at))
    return changes


def _diff_enum(subject: str, old: dict[str, Any], new: dict[str, Any], at: dict[str, Any]) -> list[Change]:
    changes = []
    old_values, new_values = old["values"], new["values"]
    if old_values != new_values:
        appended = new_values[: len(old_values)] == old_values
        kind = "enum_value_added" if appended else "enum_values_changed"
        changes.append(classify(kind, subject, f"enum values {old_values} -> {new_values}", **at))
    for keys, kind in (
        (("native", "check_constraint"), "enum_storage_changed"),
        (("python_class", "validate_strings"), "enum_python_changed"),
    ):
        moved = [key for key in keys if old.get(key) != new.get(key)]
        if moved:
            detail = "; ".join(f"{key} {old.get(key)} -> {new.get(key)}" for key in moved)
            changes.append(classify(kind, subject, detail, **at))
    return changes


def _diff_server_default(
    subject: str, old: dict[str, Any], new: dict[str, Any], at: dict[str, Any]
) -> list[Change]:
    before, after = old["server_default"], new["server_default"]
    if before == after:
        return []
    if before is not None and after is not None and same_default(before, after):
        detail = f"server default {before} -> {after}: the same value for every writer that omits it"
        return [classify("equivalent_server_default", subject, detail, **at)]
    if before is None:
        return [classify("add_server_default", subject, f"server default {after} added", **at)]
    if after is not None:
        return [classify("change_server_default", subject, f"server default {before} -> {after}", **at)]
    if new["nullable"]:
        return [classify("drop_server_default_nullable", subject, f"server default {before} dropped", **at)]
    detail = f"server default {before} dropped from a NOT NULL column"
    return [classify("drop_server_default", subject, detail, **at)]


def _diff_computed(
    subject: str, old: dict[str, Any] | None, new: dict[str, Any] | None, at: dict[str, Any]
) -> list[Change]:
    if old == new:
        return []
    if old is None:
        return [
            classify("add_computed", subject, f"now GENERATED ALWAYS AS ({new and new['sqltext']})", **at)
        ]
    if new is None:
        return [classify("drop_computed", subject, f"no longer GENERATED AS ({old['sqltext']})", **at)]
    return [classify("change_computed", subject, f"{old} -> {new}", **at)]
