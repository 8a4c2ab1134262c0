"""orm-models 2.3.0 (expand): the client registry on databases already past contract 0003.

0002c creates the registry on databases in the expand state; a database that had applied 0003
before 2.3.0 never runs 0002c, so this revision creates the same tables when they are missing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from orm_models.migrations.client_registry import create_registry

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"


def upgrade() -> None:
    create_registry()


def downgrade() -> None:
    # The tables are 0002c's on every path down (0004 -> 0003 -> 0002c): it drops them.
    pass
