"""orm-models 1.1.0 (expand): add person.family_name, backfilled from last_name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"
# Named in 2.5, when the lint learnt to flag unbatched full-table writes; the upgrade is unchanged.
unsafe_ok = {"execute UPDATE person": "1.1.0's backfill, released as it is: person held few rows then"}


def upgrade() -> None:
    # Nullable, so writers on 1.0.x (which do not know the column) keep inserting.
    op.add_column("person", sa.Column("family_name", sa.String(100), nullable=True))
    op.execute("UPDATE person SET family_name = last_name WHERE family_name IS NULL")


def downgrade() -> None:
    op.drop_column("person", "family_name")
