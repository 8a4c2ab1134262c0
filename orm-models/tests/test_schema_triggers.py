"""Triggers: no model declares them, so the migrated databases and the witnesses must see them.

A BEFORE trigger that rejects a blank name changes no column, constraint or index; only the
trigger facts of the migrated database (`add_trigger`, major, "a person decides") and the
witnesses' edge values (an empty string old writers may send) show what it does.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from schema_helpers import tree_with_revision

from orm_models.schema.changes import Bump
from orm_models.schema.diff_triggers import diff_triggers
from orm_models.schema.rules import explain

CLI = str(Path(sys.executable).parent / "orm-models")

_NOT_BLANK = {
    "table": "person",
    "definition": "CREATE TRIGGER not_blank BEFORE INSERT ON public.person FOR EACH ROW EXECUTE FUNCTION f()",
    "function_md5": "a",
}
_TABLES: dict[str, Any] = {"person": {}}


def test_an_added_trigger_on_an_old_table_is_major_and_a_person_decides() -> None:
    [change] = diff_triggers({}, {"person.not_blank": _NOT_BLANK}, _TABLES)
    assert (change.kind, change.bump, change.table) == ("add_trigger", Bump.MAJOR, "person")
    assert "BEFORE INSERT" in change.detail
    assert "a person decides" in explain("add_trigger")


def test_a_trigger_on_a_new_table_reaches_no_old_writer() -> None:
    [change] = diff_triggers({}, {"person.not_blank": _NOT_BLANK}, {})
    assert (change.kind, change.bump) == ("add_trigger_new_table", Bump.MINOR)


def test_a_renames_sync_trigger_is_minor_and_any_other_name_stays_major() -> None:
    sync = "person_sync_nickname_preferred_name"
    definition = (
        f"CREATE TRIGGER {sync} BEFORE INSERT OR UPDATE ON public.person "
        f"FOR EACH ROW EXECUTE FUNCTION {sync}()"
    )
    trigger = {"table": "person", "definition": definition, "function_md5": "a"}
    [change] = diff_triggers({}, {f"person.{sync}": trigger}, _TABLES)
    assert (change.kind, change.bump) == ("add_rename_sync_trigger", Bump.MINOR)
    other = {**trigger, "definition": definition.replace(f"FUNCTION {sync}()", "FUNCTION reject_blank()")}
    [change] = diff_triggers({}, {f"person.{sync}": other}, _TABLES)
    assert (change.kind, change.bump) == ("add_trigger", Bump.MAJOR)


def test_a_changed_definition_or_function_body_and_a_drop_are_major() -> None:
    old = {"person.not_blank": _NOT_BLANK}
    body = {"person.not_blank": {**_NOT_BLANK, "function_md5": "b"}}
    timing = {
        "person.not_blank": {**_NOT_BLANK, "definition": _NOT_BLANK["definition"].replace("INSERT", "UPDATE")}
    }
    assert [(c.kind, c.bump) for c in diff_triggers(old, body, _TABLES)] == [("change_trigger", Bump.MAJOR)]
    assert "function body" in diff_triggers(old, body, _TABLES)[0].detail
    assert "definition" in diff_triggers(old, timing, _TABLES)[0].detail
    assert [(c.kind, c.bump) for c in diff_triggers(old, {}, _TABLES)] == [("drop_trigger", Bump.MAJOR)]
    assert diff_triggers(old, dict(old), _TABLES) == []  # a released trigger (the name bridge) alone: nothing


_CREATE = '''def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION person_given_name_not_blank() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF btrim(NEW.given_name) = '' THEN
                RAISE EXCEPTION 'person.given_name must not be blank' USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER person_given_name_not_blank BEFORE INSERT OR UPDATE OF given_name ON person "
        "FOR EACH ROW EXECUTE FUNCTION person_given_name_not_blank()"
    )'''
_DROP = """def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS person_given_name_not_blank ON person")
    op.execute("DROP FUNCTION IF EXISTS person_given_name_not_blank()")"""


def test_check_sees_a_trigger_that_rejects_blank_names(tmp_path: Path) -> None:
    """The blind test's case 20: a literal CREATE TRIGGER that passes the migration lint."""
    tree, _revision = tree_with_revision(tmp_path, "reject blank given names", _CREATE, _DROP)
    result = subprocess.run(
        [CLI, "check", "--baseline", "schema-baseline.json", "--current", "src", "--json"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["required_bump"] == "major", report
    kinds = {c["kind"]: c for c in report["changes"]}
    assert kinds["add_trigger"]["subject"] == "trigger person.person_given_name_not_blank"
    witnessed = kinds["witness_old_code_new_schema"]["detail"]
    assert "given_name = an empty string" in witnessed
    assert "must not be blank" in witnessed
