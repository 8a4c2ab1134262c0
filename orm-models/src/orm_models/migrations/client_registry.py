"""DDL of the client registry (`schema_client`, `schema_client_audit`), shared by two revisions.

0002c creates it on databases still in the expand state (its contract 0003 held back, which is
when the registry matters most); 0004 creates it on databases that were already past 0003 when
2.3.0 arrived. Released revisions call these functions: never edit them, add a revision instead.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

CLIENT_TABLE = "schema_client"
AUDIT_TABLE = "schema_client_audit"


def create_registry() -> None:
    """Create both tables, unless a previous revision did."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if CLIENT_TABLE not in existing:
        op.create_table(
            CLIENT_TABLE,
            sa.Column("service", sa.String(100), nullable=False),
            sa.Column("instance", sa.String(200), nullable=False),
            sa.Column("orm_models_version", sa.String(50), nullable=False),
            sa.Column("maps", postgresql.ARRAY(sa.Text()), nullable=False),
            sa.Column("writes", postgresql.ARRAY(sa.Text()), nullable=False),
            sa.Column(
                "first_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
            ),
            sa.Column(
                "last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
            ),
            sa.PrimaryKeyConstraint("service", "instance", name="pk_schema_client"),
        )
    if AUDIT_TABLE not in existing:
        op.create_table(
            AUDIT_TABLE,
            sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.Column("action", sa.String(50), nullable=False),
            sa.Column("actor", sa.Text(), nullable=False),
            sa.Column("service", sa.String(100), nullable=True),
            sa.Column("instance", sa.String(200), nullable=True),
            sa.Column("revision", sa.String(50), nullable=True),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("detail", postgresql.JSONB(), nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_schema_client_audit"),
        )


def drop_registry() -> None:
    """Drop both tables (the registry's history goes with them)."""
    op.execute(f"DROP TABLE IF EXISTS {AUDIT_TABLE}")
    op.execute(f"DROP TABLE IF EXISTS {CLIENT_TABLE}")
