"""Clients as PostgreSQL itself sees them: `pg_stat_activity`, sampled.

A client that never registered (a release before 2.3.0, a forgotten cron job) still connects:
PostgreSQL shows its session's `application_name`, role, client address and latest statement.
`record_activity` samples that view; every registry heartbeat, `orm-models status` and the
contract gate call it, and databases migrated to 0005 keep what was seen in
`schema_client_observed` (per application name, role and address: when first and last seen,
and when a sampled statement last named each table and `table.column`).

Where `pg_stat_statements` is loaded and installed in the database, each sample also reads which
data statements each role ran since the previous sample (`sample_statements`): a role that used
a dropped column blocks a contract even if none of its sessions was connected when sampled. The
view names roles, not applications, so such a blocker is `(any client of role R)`.

What it cannot see: a client that is not connected when anything samples (a monthly job that
ran between samples, a cron loader between runs; declare those by registering them), and what a
session did between samples (only its latest statement is shown; string literals in it are
data, never names). Sessions of other databases, PostgreSQL's own workers, the sampling session
and `orm-models` commands (application name `orm-models ...`) are not clients here. Without
`pg_read_all_stats` a role sees the statements of its own sessions only.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select, text

from orm_models.migrations.service_registry import OBSERVED_TABLE, STATEMENT_TABLE
from orm_models.registry import Registration, has_table, observed, statement_calls

OWN_APPLICATION = "orm-models"
"""The application name `orm-models` commands connect with; their sessions are not clients."""

STATEMENTS = "pg_stat_statements"
"""The address of an observation made from `pg_stat_statements`: per role, of no one session."""


@dataclass(frozen=True)
class Observation:
    """One client identity PostgreSQL showed, and what its sampled statements named."""

    application_name: str
    role: str
    client_addr: str
    first_seen_at: datetime
    last_seen_at: datetime
    touched: Mapping[str, datetime] = field(default_factory=dict)
    """`table` and `table.column` names its sampled statements used, and when last seen."""

    @property
    def from_statements(self) -> bool:
        """Seen in `pg_stat_statements` (what a role ran), not as a session."""
        return self.client_addr == STATEMENTS

    @property
    def name(self) -> str:
        """Its application name, or a placeholder saying it set none (or that only its role is known)."""
        if self.from_statements:
            return f"(any client of role {self.role})"
        return self.application_name or "(no application_name)"

    @property
    def where(self) -> str:
        """`role@address` (`local`: a Unix socket; `pg_stat_statements`: no session)."""
        return f"{self.role}@{self.client_addr}"

    def attributed_to(
        self, clients: Iterable[Registration], identities: Iterable[tuple[str, str, str]]
    ) -> bool:
        """Whether a registration accounts for it: its application name is a registered service's
        name, or it connects as a registered client did (application name, role, address).
        What a role ran (`pg_stat_statements`) is evidence of use, never a client of its own."""
        if self.from_statements:
            return True
        if self.application_name and any(c.service == self.application_name for c in clients):
            return True
        return (self.application_name, self.role, self.client_addr) in set(identities)


_ACTIVITY = f"""
SELECT coalesce(application_name, '') AS application_name, coalesce(usename::text, '') AS role,
       coalesce(host(client_addr), 'local') AS client_addr, coalesce(query, '') AS query, now() AS now
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND coalesce(application_name, '') NOT LIKE '{OWN_APPLICATION}%'
"""

# pg_catalog rather than information_schema: a heartbeat runs this, and the view costs milliseconds.
_CATALOG = """
SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
  AND a.attnum > 0 AND NOT a.attisdropped
"""

# Quoted identifiers keep their case; string literals are removed first (values, not names).
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


def _names(statement: str) -> set[str]:
    found = set()
    for quoted, bare in _IDENTIFIER.findall(_LITERAL.sub(" ", statement)):
        found.add(quoted.replace('""', '"') if quoted else bare.lower())
    return found


def _catalog(connection: Connection) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for table, column in connection.execute(text(_CATALOG)):
        columns.setdefault(str(table), set()).add(str(column))
    return columns


def _touch(touched: dict[str, datetime], statement: str, catalog: dict[str, set[str]], at: datetime) -> None:
    """Mark the tables and `table.column`s `statement` names as used at `at`."""
    names = _names(statement)
    for table in names & catalog.keys():
        touched[table] = at
        touched.update((f"{table}.{column}", at) for column in names & catalog[table])


def sample_activity(connection: Connection) -> list[Observation]:
    """Every client session of this database now, one observation per identity."""
    rows = connection.execute(text(_ACTIVITY)).mappings().all()
    if not rows:
        return []
    catalog = _catalog(connection)
    merged: dict[tuple[str, str, str], dict[str, datetime]] = {}
    now: datetime = rows[0]["now"]
    for row in rows:
        touched = merged.setdefault((row["application_name"], row["role"], row["client_addr"]), {})
        _touch(touched, row["query"], catalog, now)
    return [Observation(*identity, now, now, touched) for identity, touched in merged.items()]


_PRELOADED = """
SELECT 'pg_stat_statements' = ANY(
           string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
   AND to_regclass('pg_stat_statements') IS NOT NULL
"""

_STATEMENT_CALLS = """
SELECT s.queryid, r.rolname AS role, s.query, s.calls, now() AS now
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.queryid IS NOT NULL
"""

# Data statements only: a migration's DDL names the columns it drops without using them.
_DATA_STATEMENT = re.compile(r"\s*(select|insert|update|delete|with|merge|copy)\b", re.IGNORECASE)


def sample_statements(connection: Connection) -> list[Observation]:
    """What each role ran since the last sample, as `pg_stat_statements` counts it.

    Needs the extension (`shared_preload_libraries` and `CREATE EXTENSION pg_stat_statements`)
    and revision 0005, which keeps the call counts between samples; otherwise nothing. A
    statement seen for the first time counts as run now: before PostgreSQL 17 the view does
    not say when. Statements whose count did not move since the last sample are not evidence.
    """
    if not has_table(connection, STATEMENT_TABLE) or not connection.execute(text(_PRELOADED)).scalar():
        return []
    rows = connection.execute(text(_STATEMENT_CALLS)).mappings().all()
    if not rows:
        return []
    known = {(q, r): c for q, r, c in connection.execute(select(statement_calls))}
    catalog = _catalog(connection)
    now: datetime = rows[0]["now"]
    by_role: dict[str, dict[str, datetime]] = {}
    for row in rows:
        if known.get((row["queryid"], row["role"])) != row["calls"] and _DATA_STATEMENT.match(row["query"]):
            _touch(by_role.setdefault(row["role"], {}), row["query"], catalog, now)
    snapshot = [{"queryid": r["queryid"], "role": r["role"], "calls": r["calls"]} for r in rows]
    connection.execute(
        text(
            f"INSERT INTO {STATEMENT_TABLE} AS seen (queryid, role, calls) SELECT queryid, role, calls "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(queryid bigint, role text, calls bigint) "
            "ON CONFLICT (queryid, role) DO UPDATE SET calls = EXCLUDED.calls"
        ),
        {"rows": json.dumps(snapshot)},
    )
    return [
        Observation("", role, STATEMENTS, now, now, touched) for role, touched in by_role.items() if touched
    ]


def record_activity(connection: Connection) -> list[Observation]:
    """Sample `pg_stat_activity` and keep what it showed (on databases with revision 0005)."""
    sampled = sample_activity(connection)
    if has_table(connection, OBSERVED_TABLE):
        sampled += sample_statements(connection)
    if sampled and has_table(connection, OBSERVED_TABLE):
        rows = [
            {
                "application_name": o.application_name,
                "role": o.role,
                "client_addr": o.client_addr,
                "touched": {name: at.isoformat() for name, at in o.touched.items()},
            }
            for o in sampled
        ]
        # One statement for every identity: a heartbeat pays one round trip, not one per client.
        connection.execute(
            text(
                f"INSERT INTO {OBSERVED_TABLE} AS seen (application_name, role, client_addr, touched) "
                "SELECT application_name, role, client_addr, touched "
                "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
                "AS sampled(application_name text, role text, client_addr text, touched jsonb) "
                "ON CONFLICT (application_name, role, client_addr) DO UPDATE SET "
                "touched = seen.touched || EXCLUDED.touched, last_seen_at = now()"
            ),
            {"rows": json.dumps(rows, sort_keys=True)},
        )
    return sampled


def observed_clients(connection: Connection, sampled: list[Observation] | None = None) -> list[Observation]:
    """Every client observed: as kept in `schema_client_observed`, else `sampled` (default: now).

    Call `record_activity` first (and pass what it returned) to include the sessions connected
    right now.
    """
    if not has_table(connection, OBSERVED_TABLE):
        return sample_activity(connection) if sampled is None else sampled
    query = select(observed).order_by(observed.c.last_seen_at.desc(), observed.c.application_name)
    return [
        Observation(
            row["application_name"],
            row["role"],
            row["client_addr"],
            row["first_seen_at"],
            row["last_seen_at"],
            {name: datetime.fromisoformat(at) for name, at in row["touched"].items()},
        )
        for row in connection.execute(query).mappings()
    ]
