"""DDL of the per-service registry and the observed clients (revision 0005).

`schema_service`: one row per service and orm-models version, its instances counted (a map of
instance to when it was last seen), replacing one row per process. `schema_client_observed`:
who PostgreSQL itself saw connected (application name, role, address) and which tables and
columns their sampled statements named. `schema_statement_calls`: the call count of each
`pg_stat_statements` entry when last sampled, so a later sample knows which ran since.
Released revisions call these functions: never edit them, add a revision instead.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

SERVICE_TABLE = "schema_service"
OBSERVED_TABLE = "schema_client_observed"
STATEMENT_TABLE = "schema_statement_calls"
EMPTY_JSON = "'{}'::jsonb"


def _seen_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def create_service_registry() -> None:
    """Create the three tables."""
    op.create_table(
        SERVICE_TABLE,
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("orm_models_version", sa.String(50), nullable=False),
        sa.Column("maps", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("writes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("instances", postgresql.JSONB(), server_default=sa.text(EMPTY_JSON), nullable=False),
        sa.Column("heartbeat_seconds", sa.Float(), nullable=True),
        sa.Column("application_name", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("client_addr", sa.Text(), nullable=True),
        *_seen_columns(),
        sa.PrimaryKeyConstraint("service", "orm_models_version", name="pk_schema_service"),
    )
    op.create_table(
        OBSERVED_TABLE,
        sa.Column("application_name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("client_addr", sa.Text(), nullable=False),
        sa.Column("touched", postgresql.JSONB(), server_default=sa.text(EMPTY_JSON), nullable=False),
        *_seen_columns(),
        sa.PrimaryKeyConstraint("application_name", "role", "client_addr", name="pk_schema_client_observed"),
    )
    op.create_table(
        STATEMENT_TABLE,
        sa.Column("queryid", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queryid", "role", name="pk_schema_statement_calls"),
    )


def drop_service_registry() -> None:
    """Drop the three tables."""
    op.execute(f"DROP TABLE IF EXISTS {STATEMENT_TABLE}")
    op.execute(f"DROP TABLE IF EXISTS {OBSERVED_TABLE}")
    op.execute(f"DROP TABLE IF EXISTS {SERVICE_TABLE}")
