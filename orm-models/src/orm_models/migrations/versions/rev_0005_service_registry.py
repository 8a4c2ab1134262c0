"""orm-models (expand): registry entries per service and version; clients PostgreSQL observed.

`schema_service` holds one row per service and orm-models version with its instances counted;
`schema_client_observed` holds the sessions `pg_stat_activity` showed (application name, role,
address) and the tables and columns their sampled statements named (and, where the extension is
installed, what `pg_stat_statements` shows each role ran; `schema_statement_calls` keeps the call
counts between samples). The old per-process
`schema_client` stays: 2.3 and 2.4 clients (and README's registration statement) still write it,
and the gate reads both.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from orm_models.migrations.service_registry import create_service_registry, drop_service_registry

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

phase = "expand"


def upgrade() -> None:
    create_service_registry()


def downgrade() -> None:
    drop_service_registry()
