"""orm-models 2.3.0 (expand): the client registry on databases already past contract 0003.

0002c creates the registry on databases in the expand state; a database that had applied 0003
before 2.3.0 never runs 0002c, so this revision creates the same tables when they are missing.

From 2.5 it follows 0002c on the expand branch (2.3.0 and 2.4.0 chained it after 0003): a
database that holds contract 0003 back gets it too, and every expand revision after it.
A database 2.3/2.4 left at 0004 had run 0003 first; `orm_models.version_state` reads it so.

Revision ID: 0004
Revises: 0002c (2.3.0 and 2.4.0 said 0003)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from orm_models.migrations.client_registry import create_registry

revision: str = "0004"
down_revision: str | None = "0002c"
branch_labels: str | Sequence[str] | None = ("expand",)
depends_on: str | Sequence[str] | None = None

phase = "expand"


def upgrade() -> None:
    create_registry()


def downgrade() -> None:
    # The tables are 0002c's (0004 only re-creates them when missing): 0002c drops them.
    pass
