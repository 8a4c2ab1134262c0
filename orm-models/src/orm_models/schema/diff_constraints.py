"""Diff the keys, constraints and indexes of one table.

Three things beyond "added or dropped": a constraint that only changed its name is a rename
(patch, unless a client names it); a unique or CHECK constraint on columns added in the same
release is harmless to old writers (they cannot write those columns); a foreign key is judged by
what it does to old writers of the table it *references*, wherever it is declared.
"""

import re
from typing import Any

from .changes import Change
from .rules import classify
from .tables import REFERENCED_BY_NAME

# ON DELETE / ON UPDATE actions that never make a DELETE or key UPDATE of a referenced row fail.
_NON_BLOCKING = frozenset({"CASCADE", "SET NULL"})
# Facts that name or document a constraint without changing what it accepts.
_NOT_DEFINITION = frozenset({"comment", REFERENCED_BY_NAME})


def diff_constraints(
    table: str, old: dict[str, Any], new: dict[str, Any], new_columns: set[str], old_tables: dict[str, Any]
) -> list[Change]:
    """Primary key, unique, EXCLUDE, foreign key and CHECK constraints and indexes of `table`."""
    changes = _diff_primary_key(table, old["primary_key"], new["primary_key"])
    context = _Context(table, new, new_columns, old_tables)
    changes += _diff_named(context, "unique", old["unique_constraints"], new["unique_constraints"])
    changes += _diff_named(
        context, "unique", old.get("exclude_constraints", {}), new.get("exclude_constraints", {})
    )
    changes += _diff_named(context, "foreign_key", old["foreign_keys"], new["foreign_keys"])
    changes += _diff_named(context, "check", old["check_constraints"], new["check_constraints"])
    changes += _diff_named(context, "index", old["indexes"], new["indexes"])
    return changes


def new_table_foreign_keys(table: str, facts: dict[str, Any], old_tables: dict[str, Any]) -> list[Change]:
    """The foreign keys of a new table that restrict old writers of an existing referenced table."""
    context = _Context(table, facts, set(facts["columns"]), old_tables)
    return [
        change
        for name, fk in sorted(facts["foreign_keys"].items())
        if (change := _added(context, "foreign_key", name, fk)).kind != "add_foreign_key_on_new_column"
    ]


class _Context:
    def __init__(
        self, table: str, new: dict[str, Any], new_columns: set[str], old_tables: dict[str, Any]
    ) -> None:
        self.table, self.new, self.new_columns, self.old_tables = table, new, new_columns, old_tables


def _diff_primary_key(table: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    if old["columns"] != new["columns"]:
        detail = f"({', '.join(old['columns'])}) -> ({', '.join(new['columns'])})"
        return [classify("change_primary_key", table, detail, table=table)]
    changes = []
    if old.get("deferrable") != new.get("deferrable") or old.get("initially") != new.get("initially"):
        changes.append(
            classify("change_constraint", f"{table}:{new['name']}", "deferral changed", table=table)
        )
    if old["name"] != new["name"]:
        changes.append(
            classify(
                "rename_constraint", f"{table}:{new['name']}", f"renamed from {old['name']}", table=table
            )
        )
    return changes


def _definition(facts: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in facts.items() if key not in _NOT_DEFINITION}


def _describe(kind: str, facts: dict[str, Any]) -> str:
    if kind == "foreign_key":
        referred = f"{facts['referred_table']}({', '.join(facts['referred_columns'])})"
        actions = "".join(
            f" ON {verb} {facts[key]}"
            for verb, key in (("DELETE", "ondelete"), ("UPDATE", "onupdate"))
            if facts.get(key)
        )
        return f"({', '.join(facts['columns'])}) -> {referred}{actions}"
    if kind == "check":
        return str(facts["sqltext"])
    if "definition" in facts:
        return str(facts["definition"])
    unique = "unique " if facts.get("unique") else ""
    extra = "".join(f" {key}={value}" for key, value in sorted((facts.get("options") or {}).items()))
    return f"{unique}({', '.join(facts['columns'])}){extra}"


def _single_column(facts: dict[str, Any]) -> str | None:
    columns = facts.get("columns", [])
    return str(columns[0]) if len(columns) == 1 else None


def _renames(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """Old name -> new name for constraints that went and came with the same definition."""
    gone, came = sorted(old.keys() - new.keys()), sorted(new.keys() - old.keys())
    renames = {}
    for before in gone:
        match = next((after for after in came if _definition(new[after]) == _definition(old[before])), None)
        if match is not None:
            renames[before] = match
            came.remove(match)
    return renames


def _diff_named(context: _Context, kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    table, changes = context.table, []
    renames = _renames(old, new)
    for before, after in sorted(renames.items()):
        subject = f"{table}:{after}"
        who = old[before].get(REFERENCED_BY_NAME)
        if who:
            detail = f"renamed from {before}; {who} names it"
            changes.append(classify("rename_referenced", subject, detail, table=table))
        else:
            changes.append(classify("rename_constraint", subject, f"renamed from {before}", table=table))
        changes += _notes(subject, table, old[before], new[after])
    for name in sorted(old.keys() | new.keys()):
        if name in renames or name in renames.values():
            continue
        subject, column = f"{table}:{name}", _single_column(new.get(name) or old[name])
        if name not in new:
            changes.append(_dropped(kind, subject, old[name], table, column))
        elif name not in old:
            changes.append(_added(context, kind, name, new[name]))
        elif _definition(old[name]) != _definition(new[name]):
            changes.append(_changed(kind, subject, old[name], new[name], table, column))
        else:
            changes += _notes(subject, table, old[name], new[name])
    return changes


def _notes(subject: str, table: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    moved = [key for key in _NOT_DEFINITION if old.get(key) != new.get(key)]
    if not moved:
        return []
    detail = "; ".join(f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(moved))
    return [classify("change_comment", subject, detail, table=table)]


def _dropped(kind: str, subject: str, facts: dict[str, Any], table: str, column: str | None) -> Change:
    detail = _describe(kind, facts)
    if kind == "index":
        return classify(
            "drop_unique" if facts["unique"] else "drop_index", subject, detail, table=table, column=column
        )
    return classify(f"drop_{kind}", subject, detail, table=table, column=column)


def _changed(
    kind: str, subject: str, old: dict[str, Any], new: dict[str, Any], table: str, column: str | None
) -> Change:
    detail = f"{_describe(kind, old)} -> {_describe(kind, new)}"
    if kind == "index":
        if new["unique"] and not old["unique"]:
            return classify("add_unique", subject, detail, table=table, column=column)
        if old["unique"] and not new["unique"]:
            return classify("drop_unique", subject, detail, table=table, column=column)
        # A unique index over other columns, rows or operators accepts other rows: a constraint change.
        kind_of = "change_constraint" if new["unique"] else "change_index"
        return classify(kind_of, subject, detail, table=table, column=column)
    return classify("change_constraint", subject, detail, table=table, column=column)


def _added(context: _Context, kind: str, name: str, facts: dict[str, Any]) -> Change:
    table, subject = context.table, f"{context.table}:{name}"
    column, detail = _single_column(facts), _describe(kind, facts)
    if kind == "index" and not facts["unique"]:
        return classify("add_index", subject, detail, table=table, column=column)
    if kind in {"unique", "index"}:
        rule = "add_unique_on_new_column" if _unique_spares_old_writers(context, facts) else "add_unique"
        return classify(rule, subject, detail, table=table, column=column)
    if kind == "check":
        rule = "add_check_on_new_column" if _check_spares_old_writers(context, facts) else "add_check"
        return classify(rule, subject, detail, table=table, column=column)
    return _added_foreign_key(context, subject, facts, column, detail)


def _added_foreign_key(
    context: _Context, subject: str, facts: dict[str, Any], column: str | None, detail: str
) -> Change:
    table = context.table
    blocked = _blocked_statements(context, facts)
    if blocked:
        detail += (
            f"; old writers' {' and '.join(blocked)} of {facts['referred_table']} rows it points at fail"
        )
    if not set(facts["columns"]) <= context.new_columns:
        # Old writers write these columns: their rows may violate it. Plus whatever it blocks.
        return classify("add_foreign_key", subject, detail, table=table, column=column)
    if blocked:
        return classify("add_foreign_key_restricts_referenced", subject, detail, table=table, column=column)
    return classify("add_foreign_key_on_new_column", subject, detail, table=table, column=column)


def _blocked_statements(context: _Context, facts: dict[str, Any]) -> list[str]:
    """Statements of old writers of the referenced table that this foreign key can make fail."""
    referred = context.old_tables.get(facts["referred_table"])
    if referred is None:
        return []  # a new table: no old writer knows it
    columns = context.new["columns"]
    nullable = all(columns.get(c, {}).get("nullable", False) for c in facts["columns"])
    blocked = []
    if not _action_spares(facts.get("ondelete"), nullable):
        blocked.append("DELETE")
    # Keys generated by an identity are never reassigned by our writers (ids are stable; see docs).
    identity_key = all(referred["columns"].get(c, {}).get("identity") for c in facts["referred_columns"])
    if not identity_key and not _action_spares(facts.get("onupdate"), nullable):
        blocked.append("key UPDATE")
    return blocked


def _action_spares(action: str | None, nullable: bool) -> bool:
    if action == "SET NULL":
        return nullable  # SET NULL on a NOT NULL column fails the statement
    return action in _NON_BLOCKING


def _unique_spares_old_writers(context: _Context, facts: dict[str, Any]) -> bool:
    """Old writers leave at least one of its columns NULL, and NULLs are distinct."""
    options = facts.get("options") or {}
    if options.get("postgresql_nulls_not_distinct") or "definition" in facts:
        return False
    columns = context.new["columns"]
    return any(
        name in context.new_columns
        and columns[name]["nullable"]
        and columns[name]["server_default"] is None
        and not columns[name].get("identity")
        and not columns[name].get("computed")
        for name in facts["columns"]
    )


def _check_spares_old_writers(context: _Context, facts: dict[str, Any]) -> bool:
    """It names only new columns and does not test for NULL (what old writers leave there)."""
    text = str(facts["sqltext"])
    named = {c for c in context.new["columns"] if re.search(rf"\b{re.escape(c)}\b", text)}
    return bool(named) and named <= context.new_columns and "NULL" not in text.upper()
