"""The client registry: which services use this database, on which release, mapping what.

Every service calls `register_client` when it starts (and the long-running ones again as a
heartbeat). `migrate(contract=True)` reads the registry before a contract revision drops or
tightens anything (see `orm_models.contract_gate`), and `orm-models status` prints it.

The tables are created by revision 0002c (databases still in the expand state) or 0004 (the
others): every database migrated by 2.3.0 or later has them. Releases before 2.3.0 ship no
`register_client`; README's runbook gives the one statement such a service can run instead.
"""

import getpass
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Identity,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError, ProgrammingError

from orm_models.__about__ import __version__
from orm_models.base import NAMING_CONVENTION, Base
from orm_models.migrations.client_registry import AUDIT_TABLE, CLIENT_TABLE
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
) -> Registration:
    """Record (or refresh) this client in the registry; call it at start-up and as a heartbeat.

    Args:
        target: An engine (the registration commits on its own) or a connection (the caller
            commits).
        service: The service's name, e.g. `loader-service`.
        instance: Which process of it; default `host:pid`.
        mapped: The `table.column`s its models map; default every column of the installed models.
        written: The `table.column`s it writes (a read-only service writes none).
        version: The orm-models release it runs; default the installed one.

    Raises:
        RegistrationError: The registry is missing (database not migrated by 2.3.0 or later),
            or the role may not write it (`read_only` set); the message is one line.
    """
    maps = sorted(set(mapped_columns() if mapped is None else mapped))
    writes = sorted(set(written))
    values = {
        "service": service,
        "instance": instance or default_instance(),
        "orm_models_version": version,
        "maps": maps,
        "writes": writes,
    }
    new = insert(clients).values(values)
    upsert = new.on_conflict_do_update(
        index_elements=[clients.c.service, clients.c.instance],
        set_={
            **{k: new.excluded[k] for k in ("orm_models_version", "maps", "writes")},
            "last_seen_at": func.now(),
        },
    ).returning(*clients.c)
    try:
        with begin(target) as connection:
            # Shared: registrations run side by side, but never while a contract gate decides.
            connection.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": GATE_LOCK})
            row = connection.execute(upsert).one()
    except DBAPIError as error:
        raise _registration_error(error) from error
    return from_row(row._mapping)


def _registration_error(error: DBAPIError) -> RegistrationError:
    code = getattr(error.orig, "pgcode", None)
    if code in {"42501", "25006"}:  # insufficient_privilege, read_only_sql_transaction
        return RegistrationError(
            "client registry not writable by this database role (read-only?); "
            "the contract gate cannot see this client: grant INSERT, UPDATE on schema_client",
            read_only=True,
        )
    if isinstance(error, ProgrammingError) and code == "42P01":  # undefined_table
        return RegistrationError(
            "no client registry in this database: run `orm-models migrate` with orm-models>="
            f"{_REGISTRY_SINCE}"
        )
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return RegistrationError(f"client registration failed: {reason}")


_REGISTRY_SINCE = "2.3"


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
    """Every registered client, most recently seen first."""
    rows = connection.execute(select(clients).order_by(clients.c.last_seen_at.desc(), clients.c.service))
    return [from_row(row._mapping) for row in rows]


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


def forget_client(target: Engine | Connection, service: str, instance: str | None = None) -> int:
    """Remove a decommissioned service (all its instances, or one) and audit it.

    Returns:
        How many registrations were removed (0: nothing matched; nothing is audited then).
    """
    condition = clients.c.service == service
    if instance is not None:
        condition &= clients.c.instance == instance
    with begin(target) as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": GATE_LOCK})
        deleted = connection.execute(clients.delete().where(condition).returning(clients.c.instance))
        gone: list[str] = list(deleted.scalars())
        if gone:
            record(connection, "forget", service=service, instance=instance, detail={"instances": list(gone)})
    return len(gone)
