"""orm-models 2.3.0 (expand): a bridge that loses no write, consistent mononyms, the client registry.

0002b's bridge let a 1.1.0 client's stale dual-write (`family_name = ''` sent with a given-name
edit) overwrite another client's concurrent rename, and kept mononyms written before the bridge
as `''`. The function is replaced by one that only propagates the column a statement really
changed (see `name_bridge.BRIDGE_FUNCTION_2_3`), and every row is normalised: a mononym is a NULL
`family_name` and an empty `last_name`. The client registry (`client_registry`) lets
`migrate(contract=True)` see which clients still map what a contract revision drops.

Revision ID: 0002c
Revises: 0002b
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

from orm_models.migrations.client_registry import create_registry, drop_registry
from orm_models.migrations.name_bridge import BRIDGE_FUNCTION_2_3, NORMALISE_STATEMENTS, REPLACE_FUNCTION

revision: str = "0002c"
down_revision: str | None = "0002b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"
unsafe_ok = {
    "insert_before 0003": (
        "it fixes the bridge of last_name, which 0003 drops; a database past 0003 gets the registry from 0004"
    ),
    "execute <computed SQL>": "CREATE OR REPLACE FUNCTION, UPDATEs of person (name_bridge): no DDL lock",
}


def upgrade() -> None:
    op.execute(BRIDGE_FUNCTION_2_3)
    # After the function is replaced, so no write can slip in between with the old rules.
    for statement in NORMALISE_STATEMENTS:
        op.execute(statement)
    create_registry()


def downgrade() -> None:
    drop_registry()
    op.execute(REPLACE_FUNCTION)  # 0002b's function; the normalised names stay (they are the same people)
