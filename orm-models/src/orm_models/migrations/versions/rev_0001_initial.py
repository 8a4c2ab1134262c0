"""orm-models 1.0.0: organization and person.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "organization",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
        sa.UniqueConstraint("external_id", name=op.f("uq_organization_external_id")),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("given_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_person_organization_id_organization"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("external_id", name=op.f("uq_person_external_id")),
    )
    op.create_index(op.f("ix_person_email"), "person", ["email"])
    op.create_index(op.f("ix_person_organization_id"), "person", ["organization_id"])


def downgrade() -> None:
    op.drop_table("person")
    op.drop_table("organization")
