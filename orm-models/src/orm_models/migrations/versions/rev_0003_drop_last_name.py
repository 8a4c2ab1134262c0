"""orm-models 2.0.0 (contract): drop person.last_name, replaced by family_name in 1.1.0.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Drops a column that 1.x clients map: only safe once no live client runs 1.x.
phase = "contract"
drops = ("person.last_name",)


def upgrade() -> None:
    op.drop_column("person", "last_name")


def downgrade() -> None:
    # Restore the 1.x shape: NOT NULL, filled from family_name (mononyms get an empty string).
    op.add_column("person", sa.Column("last_name", sa.String(100), nullable=True))
    op.execute("UPDATE person SET last_name = coalesce(family_name, '')")
    op.alter_column("person", "last_name", nullable=False)
