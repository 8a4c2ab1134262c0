"""The client registry: which services use this database, on which release, mapping what.

Every service calls `register_client` when it starts (and the long-running ones again as a
heartbeat). `migrate(contract=True)` reads the registry before a contract revision drops or
tightens anything (see `orm_models.contract_gate`), and `orm-models status` prints it.

Entries are per service and orm-models version, with the instances seen counted
(`schema_service`, revision 0005). Databases without it (an expand state that holds a contract
back before 0005, or one migrated by 2.3/2.4) keep the per-process `schema_client` of revision
0002c/0004, which 2.3 and 2.4 clients and README's registration statement write: the gate and
`status` read both, grouped per service and version. Releases before 2.3.0 ship no
`register_client`; PostgreSQL's own view of them is `orm_models.observed`.
"""

import getpass
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Identity,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError, ProgrammingError

# Importing the models registers their tables on Base.metadata: what a client maps by default.
from orm_models import people  # noqa: F401
from orm_models.__about__ import __version__
from orm_models.base import NAMING_CONVENTION, Base
from orm_models.migrations.client_registry import AUDIT_TABLE, CLIENT_TABLE
from orm_models.migrations.service_registry import EMPTY_JSON, OBSERVED_TABLE, SERVICE_TABLE, STATEMENT_TABLE
from orm_models.sql_target import begin

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""The registry's own tables: tooling, not models, so not in `Base.metadata` (nor in the manifest)."""

clients = Table(
    CLIENT_TABLE,
    metadata,
    Column("service", String(100), primary_key=True),
    Column("instance", String(200), primary_key=True),
    Column("orm_models_version", String(50), nullable=False),
    Column("maps", ARRAY(Text()), nullable=False),
    Column("writes", ARRAY(Text()), nullable=False),
    Column("first_seen_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

services = Table(
    SERVICE_TABLE,
    metadata,
    Column("service", String(100), primary_key=True),
    Column("orm_models_version", String(50), primary_key=True),
    Column("maps", ARRAY(Text()), nullable=False),
    Column("writes", ARRAY(Text()), nullable=False),
    Column("instances", JSONB(), server_default=text(EMPTY_JSON), nullable=False),
    Column("heartbeat_seconds", Float()),
    Column("application_name", Text()),
    Column("role", Text()),
    Column("client_addr", Text()),
    Column("first_seen_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)
"""One row per service and orm-models version; `instances` maps each instance to its last heartbeat."""

observed = Table(
    OBSERVED_TABLE,
    metadata,
    Column("application_name", Text(), primary_key=True),
    Column("role", Text(), primary_key=True),
    Column("client_addr", Text(), primary_key=True),
    Column("touched", JSONB(), server_default=text(EMPTY_JSON), nullable=False),
    Column("first_seen_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)
"""Sessions `pg_stat_activity` showed (see `orm_models.observed`)."""

statement_calls = Table(
    STATEMENT_TABLE,
    metadata,
    Column("queryid", BigInteger(), primary_key=True, autoincrement=False),
    Column("role", Text(), primary_key=True),
    Column("calls", BigInteger(), nullable=False),
)
"""`pg_stat_statements` call counts at the last sample (see `orm_models.observed`)."""

audit = Table(
    AUDIT_TABLE,
    metadata,
    Column("id", BigInteger(), Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("action", String(50), nullable=False),
    Column("actor", Text(), nullable=False),
    Column("service", String(100)),
    Column("instance", String(200)),
    Column("revision", String(50)),
    Column("reason", Text()),
    Column("detail", JSONB()),
)

DEFAULT_HEARTBEAT_INTERVAL = timedelta(seconds=60)
"""How often a long-running service heartbeats unless it says otherwise (the API's default)."""

INSTANCE_MEMORY = timedelta(days=30)
"""An instance not seen for this long is dropped from its entry's count at the next heartbeat."""

GATE_LOCK = 0x6F726D5F67617465  # "orm_gate": the contract gate holds it exclusively, registration shared
"""PostgreSQL advisory lock key serialising contract migrations against registrations."""


class RegistrationError(Exception):
    """The registration was not recorded; `str()` says why in one line.

    Attributes:
        read_only: The database role may not write the registry (a read-only replica or role).
    """

    def __init__(self, message: str, *, read_only: bool = False) -> None:
        super().__init__(message)
        self.read_only = read_only


@dataclass(frozen=True)
class Registration:
    """One client as the registry records it."""

    service: str
    instance: str
    orm_models_version: str
    maps: tuple[str, ...]
    writes: tuple[str, ...]
    first_seen_at: datetime
    last_seen_at: datetime
    instances: tuple[tuple[str, datetime], ...] = ()
    """Every instance of this service on this version and when it was last seen, newest first."""
    heartbeat: timedelta | None = None
    """The interval it declared it heartbeats at (None: it did not say)."""

    def instances_since(self, cutoff: datetime) -> int:
        """How many of its instances were seen at or after `cutoff`."""
        return sum(1 for _, seen in self.instances if seen >= cutoff)


def mapped_columns(meta: MetaData | None = None) -> tuple[str, ...]:
    """Every `table.column` the installed models map (`Base.metadata` unless given), sorted."""
    tables = (meta or Base.metadata).sorted_tables
    return tuple(sorted(f"{table.name}.{column.name}" for table in tables for column in table.columns))


def default_instance() -> str:
    """`host:pid`: unique per process, and says where to look for it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def actor() -> str:
    """Who runs this command, for the audit table: OS user at host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def register_client(
    target: Engine | Connection,
    *,
    service: str,
    instance: str | None = None,
    mapped: Iterable[str] | None = None,
    written: Iterable[str] = (),
    version: str = __version__,
    heartbeat: timedelta | None = None,
) -> Registration:
    """Record (or refresh) this client in the registry; call it at start-up and as a heartbeat.

    The entry is per service and orm-models version: each instance refreshes its own last-seen
    time in it. The same transaction samples `pg_stat_activity` (`orm_models.observed`), so
    every heartbeat also records which other clients PostgreSQL shows connected.

    Args:
        target: An engine (the registration commits on its own) or a connection (the caller
            commits).
        service: The service's name, e.g. `loader-service`; set the same name as the
            connections' `application_name` so the gate can tell its sessions from others'.
        instance: Which process of it; default `host:pid`.
        mapped: The `table.column`s its models map; default every column of the installed models.
        written: The `table.column`s it writes (a read-only service writes none).
        version: The orm-models release it runs; default the installed one.
        heartbeat: How often it calls this again (None: only at start-up, or unsaid); the gate
            refuses a live window shorter than a live client's heartbeat without `--force`.

    Raises:
        RegistrationError: The registry is missing (database not migrated by 2.3.0 or later),
            or the role may not write it (`read_only` set); the message is one line.
    """
    from orm_models.observed import record_activity  # observed imports this module's tables

    name = instance or default_instance()
    values: dict[str, object] = {
        "service": service,
        "instance": name,
        "version": version,
        "maps": sorted(set(mapped_columns() if mapped is None else mapped)),
        "writes": sorted(set(written)),
        "heartbeat": None if heartbeat is None else heartbeat.total_seconds(),
        "memory": INSTANCE_MEMORY,
    }
    try:
        with begin(target) as connection:
            # Shared: registrations run side by side, but never while a contract gate decides.
            connection.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": GATE_LOCK})
            if has_table(connection, SERVICE_TABLE):
                row = connection.execute(text(_UPSERT_SERVICE), values).mappings().one()
                registration = _from_service_row(row, name)
            else:  # a database whose registry predates 0005
                row = connection.execute(text(_UPSERT_CLIENT), values).mappings().one()
                registration = from_row(row)
            record_activity(connection)
    except DBAPIError as error:
        raise _registration_error(error) from error
    return registration


_UPSERT_SERVICE = f"""
INSERT INTO {SERVICE_TABLE} AS entry (service, orm_models_version, maps, writes, instances,
    heartbeat_seconds, application_name, role, client_addr)
VALUES (:service, :version, :maps, :writes, jsonb_build_object(:instance, now()), :heartbeat,
    current_setting('application_name'), current_user, coalesce(host(inet_client_addr()), 'local'))
ON CONFLICT (service, orm_models_version) DO UPDATE SET
    maps = EXCLUDED.maps, writes = EXCLUDED.writes, heartbeat_seconds = EXCLUDED.heartbeat_seconds,
    application_name = EXCLUDED.application_name, role = EXCLUDED.role,
    client_addr = EXCLUDED.client_addr, last_seen_at = now(),
    instances = (
        SELECT coalesce(jsonb_object_agg(key, value), '{{}}'::jsonb)
        FROM jsonb_each(entry.instances)
        WHERE (value #>> '{{}}')::timestamptz > now() - CAST(:memory AS interval)
    ) || EXCLUDED.instances
RETURNING *
"""

_UPSERT_CLIENT = f"""
INSERT INTO {CLIENT_TABLE} (service, instance, orm_models_version, maps, writes)
VALUES (:service, :instance, :version, :maps, :writes)
ON CONFLICT (service, instance) DO UPDATE SET orm_models_version = EXCLUDED.orm_models_version,
    maps = EXCLUDED.maps, writes = EXCLUDED.writes, last_seen_at = now()
RETURNING *
"""


def has_table(connection: Connection, name: str) -> bool:
    """Whether the database has this registry table (older databases lack the newer ones)."""
    return bool(connection.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar())


def _instances(raw: Mapping[str, str]) -> tuple[tuple[str, datetime], ...]:
    seen = [(name, datetime.fromisoformat(at)) for name, at in raw.items()]
    return tuple(sorted(seen, key=lambda item: (item[1], item[0]), reverse=True))


def _from_service_row(row: RowMapping | Mapping[str, Any], instance: str) -> Registration:
    seconds = row["heartbeat_seconds"]
    return Registration(
        service=row["service"],
        instance=instance,
        orm_models_version=row["orm_models_version"],
        maps=tuple(row["maps"]),
        writes=tuple(row["writes"]),
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        instances=_instances(row["instances"]),
        heartbeat=None if seconds is None else timedelta(seconds=seconds),
    )


def _registration_error(error: DBAPIError) -> RegistrationError:
    code = getattr(error.orig, "pgcode", None)
    if code in {"42501", "25006"}:  # insufficient_privilege, read_only_sql_transaction
        return RegistrationError(
            "client registry not writable by this database role (read-only?); "
            "the contract gate cannot see this client: grant INSERT, UPDATE on schema_service, "
            "schema_client_observed (schema_client before revision 0005)",
            read_only=True,
        )
    if isinstance(error, ProgrammingError) and code == "42P01":  # undefined_table
        return RegistrationError(
            f"no client registry in this database: run `orm-models migrate` with orm-models>={REGISTRY_SINCE}"
        )
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return RegistrationError(f"client registration failed: {reason}")


REGISTRY_SINCE = "2.3.0"
"""The first orm-models release with `register_client`: a service on an older one cannot register."""


def from_row(row: RowMapping | Mapping[str, Any]) -> Registration:
    """A registry row as a `Registration`."""
    get = row.__getitem__
    return Registration(
        service=get("service"),
        instance=get("instance"),
        orm_models_version=get("orm_models_version"),
        maps=tuple(get("maps")),
        writes=tuple(get("writes")),
        first_seen_at=get("first_seen_at"),
        last_seen_at=get("last_seen_at"),
    )


def registered_clients(connection: Connection) -> list[Registration]:
    """Every registered service and version, instances counted, most recently seen first.

    Both registries are read: `schema_service` (this release) and the per-process
    `schema_client` that 2.3/2.4 clients write, grouped here per service and version. The
    `instance` of an entry is its most recently seen one.
    """
    entries: list[Registration] = []
    if has_table(connection, SERVICE_TABLE):
        for row in connection.execute(select(services)).mappings():
            instances = _instances(row["instances"])
            entries.append(_from_service_row(row, instances[0][0] if instances else ""))
    if has_table(connection, CLIENT_TABLE):
        grouped: dict[tuple[str, str], list[Registration]] = {}
        for row in connection.execute(select(clients)).mappings():
            one = from_row(row)
            grouped.setdefault((one.service, one.orm_models_version), []).append(one)
        entries.extend(_merged(group) for group in grouped.values())
    return _collapse(entries)


def registered_identities(connection: Connection) -> set[tuple[str, str, str]]:
    """The sessions registrations came from: (application name, role, address) of each entry."""
    if not has_table(connection, SERVICE_TABLE):
        return set()
    query = select(services.c.application_name, services.c.role, services.c.client_addr)
    return {(str(a or ""), str(r or ""), str(c or "")) for a, r, c in connection.execute(query)}


def _merged(group: list[Registration]) -> Registration:
    """Per-process rows of one service and version as one entry, instances counted."""
    newest = max(group, key=lambda one: one.last_seen_at)
    return Registration(
        service=newest.service,
        instance=newest.instance,
        orm_models_version=newest.orm_models_version,
        maps=tuple(sorted({column for one in group for column in one.maps})),
        writes=tuple(sorted({column for one in group for column in one.writes})),
        first_seen_at=min(one.first_seen_at for one in group),
        last_seen_at=newest.last_seen_at,
        instances=tuple(
            sorted(
                ((one.instance, one.last_seen_at) for one in group), key=lambda i: (i[1], i[0]), reverse=True
            )
        ),
        heartbeat=newest.heartbeat,
    )


def _collapse(entries: list[Registration]) -> list[Registration]:
    """One entry per service and version even when both registries hold it; newest first."""
    grouped: dict[tuple[str, str], list[Registration]] = {}
    for entry in entries:
        grouped.setdefault((entry.service, entry.orm_models_version), []).append(entry)
    merged = [group[0] if len(group) == 1 else _merged_entries(group) for group in grouped.values()]
    return sorted(merged, key=lambda e: (-e.last_seen_at.timestamp(), e.service, e.orm_models_version))


def _merged_entries(group: list[Registration]) -> Registration:
    flat = [
        Registration(
            e.service, name, e.orm_models_version, e.maps, e.writes, e.first_seen_at, seen, (), e.heartbeat
        )
        for e in group
        for name, seen in (e.instances or ((e.instance, e.last_seen_at),))
    ]
    return _merged(flat)


def record(
    connection: Connection,
    action: str,
    *,
    service: str | None = None,
    instance: str | None = None,
    revision: str | None = None,
    reason: str | None = None,
    detail: object = None,
) -> None:
    """Append one row to the audit table (who: `actor()`, when: the database's clock)."""
    connection.execute(
        audit.insert().values(
            action=action,
            actor=actor(),
            service=service,
            instance=instance,
            revision=revision,
            reason=reason,
            detail=detail,
        )
    )


def forget_client(
    target: Engine | Connection, service: str, instance: str | None = None, version: str | None = None
) -> int:
    """Remove a decommissioned service (every version and instance, or one of each) and audit it.

    What PostgreSQL observed under the same application name goes too (`orm_models.observed`):
    a client still connected is observed again at the next sample, so forgetting cannot hide it.

    Returns:
        How many registrations (instances) and observations were removed (0: nothing matched;
        nothing is audited then).
    """
    gone: list[str] = []
    with begin(target) as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": GATE_LOCK})
        if has_table(connection, CLIENT_TABLE):
            condition = clients.c.service == service
            if instance is not None:
                condition &= clients.c.instance == instance
            if version is not None:
                condition &= clients.c.orm_models_version == version
            deleted = connection.execute(clients.delete().where(condition).returning(clients.c.instance))
            gone.extend(deleted.scalars())
        if has_table(connection, SERVICE_TABLE):
            gone.extend(_forget_entries(connection, service, instance, version))
        if has_table(connection, OBSERVED_TABLE) and instance is None and version is None:
            removed = connection.execute(
                observed.delete().where(observed.c.application_name == service).returning(observed.c.role)
            )
            roles: list[str] = list(removed.scalars())
            gone.extend(f"observed as role {role}" for role in roles)
        if gone:
            record(
                connection,
                "forget",
                service=service,
                instance=instance,
                detail={"instances": gone, "orm_models_version": version},
            )
    return len(gone)


def _forget_entries(
    connection: Connection, service: str, instance: str | None, version: str | None
) -> list[str]:
    condition = services.c.service == service
    if version is not None:
        condition &= services.c.orm_models_version == version
    gone: list[str] = []
    for row in connection.execute(select(services).where(condition).with_for_update()).mappings():
        names = list(row["instances"])
        key = (services.c.service == row["service"]) & (
            services.c.orm_models_version == row["orm_models_version"]
        )
        if instance is None or names == [instance]:
            connection.execute(services.delete().where(key))
            gone.extend(names or [f"{row['service']} {row['orm_models_version']}"])
        elif instance in names:
            left = {name: at for name, at in row["instances"].items() if name != instance}
            connection.execute(services.update().where(key).values(instances=left))
            gone.append(instance)
    return gone
