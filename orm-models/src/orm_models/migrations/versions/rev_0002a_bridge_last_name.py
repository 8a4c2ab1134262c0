"""orm-models 2.2.0 (expand): keep person.last_name and person.family_name in step.

A database whose contract revision 0003 is held back (1.x clients still live) has both
columns, with `last_name` NOT NULL: 2.x writers, which know only `family_name`, could not insert.
The trigger of `orm_models.migrations.name_bridge` fills in the column a writer leaves out.

Revision ID: 0002a
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

from orm_models.migrations.name_bridge import CREATE_STATEMENTS, DROP_STATEMENTS

revision: str = "0002a"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"
unsafe_ok = {
    "insert_before 0003": "it bridges last_name, which 0003 drops: a database past 0003 needs none of it",
    # Named in 2.2.1, when the lint learnt to flag SQL it cannot read; the upgrade is unchanged.
    "execute <computed SQL>": "CREATE FUNCTION, CREATE TRIGGER from name_bridge: no index or constraint",
}


def upgrade() -> None:
    for statement in CREATE_STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_STATEMENTS:
        op.execute(statement)
