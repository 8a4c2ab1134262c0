"""orm-models 2.0.0 (contract): drop person.last_name, replaced by family_name in 1.1.0.

Revision ID: 0003
Revises: 0002c (2.2.0 inserted the expand bridge 0002a before it, 2.2.1 0002b, 2.3.0 0002c; 2.0.0
and 2.1.0 said 0002)
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orm_models.migrations.name_bridge import BRIDGE_FUNCTION_2_3, CREATE_STATEMENTS, DROP_STATEMENTS

revision: str = "0003"
down_revision: str | None = "0002c"
# From 2.5 the first revision of the contract branch (orm_models.version_state): expand
# revisions never come after it, so a database holding it back still receives every expand.
branch_labels: str | Sequence[str] | None = ("contract",)
depends_on: str | Sequence[str] | None = None

# Drops a column that 1.x clients map: only safe once no live client runs 1.x.
phase = "contract"
drops = ("person.last_name",)
unsafe_ok = {"execute <computed SQL>": "DROP TRIGGER / DROP FUNCTION IF EXISTS from name_bridge"}


def upgrade() -> None:
    for statement in DROP_STATEMENTS:  # the bridge reads last_name: it goes first
        op.execute(statement)
    op.drop_column("person", "last_name")


def downgrade() -> None:
    # Restore the 1.x shape: NOT NULL, filled from family_name (mononyms get an empty string).
    op.add_column("person", sa.Column("last_name", sa.String(100), nullable=True))
    op.execute("UPDATE person SET last_name = coalesce(family_name, '')")
    op.alter_column("person", "last_name", nullable=False)
    for statement in CREATE_STATEMENTS:  # back to 0002c's state: the bridge as 0002a..0002c left it
        op.execute(statement)
    op.execute(BRIDGE_FUNCTION_2_3)
