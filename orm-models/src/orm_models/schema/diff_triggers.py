"""Triggers added, dropped or changed between two migrated databases.

A trigger's function is code the check cannot judge: a BEFORE trigger may reject or rewrite the
rows old writers send (a blank name refused, a value replaced), an AFTER one may write elsewhere.
So a change to one is major with the reason "a person decides", and `--explain` says so.
"""

from typing import Any

from .changes import Change
from .rules import classify


def diff_triggers(
    old: dict[str, Any], new: dict[str, Any], old_tables: dict[str, Any] | None = None
) -> list[Change]:
    """Classify `{"table.trigger": {"table", "definition", "function_md5"}}` from `dbsnapshot.py`.

    Args:
        old: The baseline head's triggers (its released revisions' triggers, bridges included).
        new: The candidate head's.
        old_tables: The baseline's tables: a trigger on a table it lacks reaches no old writer.
    """
    changes: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        subject = f"trigger {key}"
        if after is None and before is not None:
            changes.append(classify("drop_trigger", subject, _describe(before), table=before["table"]))
        elif before is None and after is not None:
            if old_tables is not None and after["table"] not in old_tables:
                kind = "add_trigger_new_table"
            elif _is_rename_sync(key, after):
                kind = "add_rename_sync_trigger"
            else:
                kind = "add_trigger"
            changes.append(classify(kind, subject, _describe(after), table=after["table"]))
        elif before is not None and after is not None and before != after:
            what = "definition" if before["definition"] != after["definition"] else "function body"
            changes.append(
                classify(
                    "change_trigger", subject, f"{what} changed: {_describe(after)}", table=after["table"]
                )
            )
    return changes


def _is_rename_sync(key: str, trigger: dict[str, Any]) -> bool:
    """The sync trigger `orm-models revision --rename` writes: `<table>_sync_<old>_<new>`, running
    its function of the same name (it only copies a write to either name into the other)."""
    table, _, name = key.partition(".")
    return name.startswith(f"{table}_sync_") and f"EXECUTE FUNCTION {name}()" in str(trigger["definition"])


def _describe(trigger: dict[str, Any]) -> str:
    return str(trigger["definition"])
