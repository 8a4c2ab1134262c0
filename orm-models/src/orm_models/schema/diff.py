"""Diff two manifests into classified changes (tables, columns, constraints, mapped classes, API)."""

from typing import Any

from .api_surface import diff_api
from .changes import Change, Impact
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
    changes: list[Change] = []
    old_tables, new_tables = old["tables"], new["tables"]
    for name in sorted(old_tables.keys() - new_tables.keys()):
        if name not in table_renames:
            changes.append(classify("drop_table", name, "table dropped", table=name))
    for name in sorted(new_tables.keys() - old_tables.keys()):
        renamed_from = next((o for o, n in table_renames.items() if n == name), None)
        if renamed_from is not None:
            changes.append(classify("rename_table", name, f"renamed from {renamed_from}", table=name))
            changes += _diff_table(name, old_tables[renamed_from], new_tables[name], column_renames)
        else:
            columns = ", ".join(new_tables[name]["columns"])
            changes.append(classify("add_table", name, f"new table ({columns})", table=name))
    for name in sorted(old_tables.keys() & new_tables.keys()):
        changes += _diff_table(name, old_tables[name], new_tables[name], column_renames)
    changes += _diff_classes(old["classes"], new["classes"], column_renames)
    changes += diff_api(old.get("api", {}), new.get("api", {}))
    changes += _diff_revisions(old.get("migrations"), new.get("migrations"))
    return changes


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
    table: str, old: dict[str, Any], new: dict[str, Any], renames: dict[tuple[str, str], str]
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
    for name in sorted(old_columns.keys() - new_columns.keys()):
        if name in renamed_to:
            target = renamed_to[name]
            detail = f"renamed from {table}.{name}"
            changes.append(classify("rename_column", f"{table}.{target}", detail, table=table, column=target))
            changes += _diff_column(table, target, old_columns[name], new_columns[target])
        else:
            changes.append(classify("drop_column", f"{table}.{name}", "column dropped", **_at(table, name)))
    for name in sorted(new_columns.keys() - old_columns.keys()):
        if name not in renamed_to.values():
            changes.append(_added_column(table, name, new_columns[name]))
    for name in sorted(old_columns.keys() & new_columns.keys()):
        changes += _diff_column(table, name, old_columns[name], new_columns[name])
    if old["primary_key"]["columns"] != new["primary_key"]["columns"]:
        detail = (
            f"({', '.join(old['primary_key']['columns'])}) -> ({', '.join(new['primary_key']['columns'])})"
        )
        changes.append(classify("change_primary_key", table, detail, table=table))
    changes += _diff_named(table, "unique", old["unique_constraints"], new["unique_constraints"])
    changes += _diff_named(table, "foreign_key", old["foreign_keys"], new["foreign_keys"])
    changes += _diff_named(table, "check", old["check_constraints"], new["check_constraints"])
    changes += _diff_indexes(table, old["indexes"], new["indexes"])
    return changes


def _at(table: str, column: str) -> dict[str, Any]:
    return {"table": table, "column": column}


def _added_column(table: str, name: str, column: dict[str, Any]) -> Change:
    subject = f"{table}.{name}"
    kind = column["type"]
    if column["nullable"]:
        return classify("add_column_nullable", subject, f"{kind}, nullable", **_at(table, name))
    if column["server_default"] or column["identity"]:
        return classify(
            "add_column_server_default",
            subject,
            f"{kind}, NOT NULL with a server default",
            **_at(table, name),
        )
    # A Python-side default= is applied by the new models only; old writers never send it.
    why = "Python-side default= only, invisible to old writers" if column["python_default"] else "no default"
    return classify("add_column_not_null", subject, f"{kind}, NOT NULL, {why}", **_at(table, name))


def _diff_column(table: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    subject = f"{table}.{name}"
    changes = []
    if old["type"] != new["type"]:
        relation = compare_types(old["type"], new["type"])
        detail = f"{old['type']} -> {new['type']}"
        if relation is TypeChange.WIDEN:
            changes.append(classify("widen_type", subject, detail, **_at(table, name)))
        elif relation is TypeChange.WIDEN_REWRITE:
            also = frozenset({Impact.LOCKS})
            changes.append(
                classify(
                    "widen_type", subject, f"{detail} (rewrites the table)", also=also, **_at(table, name)
                )
            )
        elif relation is TypeChange.NARROW:
            changes.append(classify("narrow_type", subject, detail, **_at(table, name)))
        else:
            changes.append(classify("change_type", subject, detail, **_at(table, name)))
    if old["nullable"] and not new["nullable"]:
        changes.append(classify("set_not_null", subject, "nullable -> NOT NULL", **_at(table, name)))
    elif new["nullable"] and not old["nullable"]:
        changes.append(
            classify(
                "drop_not_null", subject, "NOT NULL -> nullable (readers may get None)", **_at(table, name)
            )
        )
    if old["server_default"] != new["server_default"]:
        if new["server_default"]:
            changes.append(
                classify("add_server_default", subject, "server default added", **_at(table, name))
            )
        elif new["nullable"]:
            changes.append(
                classify(
                    "drop_server_default_nullable", subject, "server default dropped", **_at(table, name)
                )
            )
        else:
            detail = "server default dropped from a NOT NULL column"
            changes.append(classify("drop_server_default", subject, detail, **_at(table, name)))
    if old["identity"] != new["identity"]:
        kind = "add_identity" if new["identity"] else "drop_identity"
        changes.append(classify(kind, subject, kind.replace("_", " "), **_at(table, name)))
    return changes


def _describe(kind: str, definition: dict[str, Any]) -> str:
    if kind == "foreign_key":
        referred = f"{definition['referred_table']}({', '.join(definition['referred_columns'])})"
        return f"({', '.join(definition['columns'])}) -> {referred}"
    if kind == "check":
        return str(definition["sqltext"])
    return f"({', '.join(definition['columns'])})"


def _diff_named(table: str, kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for name in sorted(old.keys() | new.keys()):
        subject = f"{table}:{name}"
        column = _single_column(new.get(name) or old[name])
        if name not in new:
            detail = _describe(kind, old[name])
            changes.append(classify(f"drop_{kind}", subject, detail, table=table, column=column))
        elif name not in old:
            detail = _describe(kind, new[name])
            changes.append(classify(f"add_{kind}", subject, detail, table=table, column=column))
        elif old[name] != new[name]:
            detail = f"{_describe(kind, old[name])} -> {_describe(kind, new[name])}"
            changes.append(classify("change_constraint", subject, detail, table=table, column=column))
    return changes


def _single_column(definition: dict[str, Any]) -> str | None:
    columns = definition.get("columns", [])
    return str(columns[0]) if len(columns) == 1 else None


def _diff_indexes(table: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for name in sorted(old.keys() | new.keys()):
        subject, column = f"{table}:{name}", _single_column(new.get(name) or old[name])
        if name in new and new[name]["unique"] and (name not in old or not old[name]["unique"]):
            # A unique index rejects rows like a unique constraint does.
            detail = f"unique index ({', '.join(new[name]['columns'])})"
            changes.append(classify("add_unique", subject, detail, table=table, column=column))
        elif name in old and old[name]["unique"] and (name not in new or not new[name]["unique"]):
            detail = f"unique index ({', '.join(old[name]['columns'])})"
            changes.append(classify("drop_unique", subject, detail, table=table, column=column))
        elif name not in new:
            changes.append(
                classify("drop_index", subject, _describe("index", old[name]), table=table, column=column)
            )
        elif name not in old:
            changes.append(
                classify("add_index", subject, _describe("index", new[name]), table=table, column=column)
            )
        elif old[name] != new[name]:
            detail = f"{_describe('index', old[name])} -> {_describe('index', new[name])}"
            # A unique index over other columns rejects rows the old one accepted: a constraint change.
            kind = "change_constraint" if new[name]["unique"] else "change_index"
            changes.append(classify(kind, subject, detail, table=table, column=column))
    return changes


def _diff_classes(
    old: dict[str, Any], new: dict[str, Any], column_renames: dict[tuple[str, str], str]
) -> list[Change]:
    changes = []
    for path in sorted(old.keys() - new.keys()):
        changes.append(classify("class_removed", path, f"mapped class of table {old[path]['table']} removed"))
    for path in sorted(new.keys() - old.keys()):
        changes.append(classify("class_added", path, f"maps table {new[path]['table']}"))
    for path in sorted(old.keys() & new.keys()):
        # The column rename is reported on the table; the attribute itself did not change.
        renamed = {o: n for (t, o), n in column_renames.items() if t == new[path]["table"]}
        changes += _diff_attributes(path, old[path]["attributes"], new[path]["attributes"], renamed)
    return changes


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
