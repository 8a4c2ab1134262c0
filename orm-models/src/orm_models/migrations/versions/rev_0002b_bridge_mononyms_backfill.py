"""orm-models 2.2.1 (expand): finish the last_name/family_name bridge of 0002a.

0002a left two gaps: people a 1.0 writer inserted after 0002's backfill and before the trigger
have no `family_name` (they are filled here), and an empty `last_name` (a 1.x mononym) was
bridged to an empty `family_name` instead of NULL (the function is replaced).

Revision ID: 0002b
Revises: 0002a
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

from orm_models.migrations.name_bridge import BACKFILL, REPLACE_FUNCTION, RESTORE_FUNCTION

revision: str = "0002b"
down_revision: str | None = "0002a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"
unsafe_ok = {
    "insert_before 0003": "it completes 0002a's bridge of last_name, which 0003 drops: none needed past it",
    "execute <computed SQL>": "CREATE OR REPLACE FUNCTION from name_bridge: no table, index or constraint",
}


def upgrade() -> None:
    op.execute(REPLACE_FUNCTION)
    # After the function is replaced, so no 1.0 insert can slip in between the two.
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(RESTORE_FUNCTION)  # the backfilled names stay: they are what 1.0 writers meant
