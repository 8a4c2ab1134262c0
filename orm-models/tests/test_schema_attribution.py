"""`orm-models check` names the new revisions behind each schema change, and warns when none is."""

from orm_models.schema.changes import Bump, Change
from orm_models.schema.lint import lint_revision
from orm_models.schema.report import attribute

_REVISION = """
revision = "0099"
down_revision = "0098"
phase = "expand"


def upgrade():
{body}
"""


_ADDS_X = _REVISION.format(body='    op.add_column("person", sa.Column("x", sa.Text()))')


def _change(kind: str, table: str, column: str | None) -> Change:
    subject = f"{table}.{column}" if column else f"trigger {table}.sync"
    return Change(kind, subject, "", Bump.MINOR, table=table, column=column)


def test_a_table_level_change_belongs_to_a_revision_acting_on_that_table() -> None:
    """The rename's expand adds a column with `op` and its trigger in SQL: the trigger is its."""
    adds_column = lint_revision(_ADDS_X)
    trigger, column, elsewhere = (
        _change("add_trigger", "person", None),
        _change("add_column", "person", "x"),
        _change("add_column", "organization", "y"),
    )
    attributed = attribute([trigger, column, elsewhere], [adds_column])
    assert attributed == {trigger.subject: ["0099"], column.subject: ["0099"], elsewhere.subject: []}


def test_a_column_change_needs_a_revision_acting_on_that_column() -> None:
    other_column = lint_revision(_ADDS_X)
    assert attribute([_change("add_column", "person", "z")], [other_column]) == {"person.z": []}
