"""The contract gate: a contract revision runs only once no live client maps what it removes.

`migrate(contract=True)` calls `check_gate` inside its transaction, after taking the registry's
advisory lock exclusively: a registration committed before that is seen, and one that comes
later waits until the contract has committed (and then finds the new schema). Two contract
migrations serialise on the same lock; the second one finds the revision already applied.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, func, select, text

from orm_models.registry import GATE_LOCK, Registration, clients, from_row, record

DEFAULT_LIVE_WINDOW = timedelta(hours=24)
"""A client seen this recently counts as live: long enough for a daily loader."""


@dataclass(frozen=True)
class Blocker:
    """A live client that still maps something a contract revision removes."""

    client: Registration
    columns: tuple[str, ...]


class ContractBlockedError(Exception):
    """A contract revision was refused: live clients still map what it drops or tightens.

    Attributes:
        revision: The contract revision that was not applied.
        removes: What it drops or tightens (`table.column` / `table`).
        blockers: The live clients, each with the columns it still maps.
    """

    def __init__(self, revision: str, removes: tuple[str, ...], blockers: list[Blocker]) -> None:
        names = ", ".join(f"{b.client.service} ({b.client.instance})" for b in blockers)
        super().__init__(f"contract revision {revision} refused: {names} still map {', '.join(removes)}")
        self.revision = revision
        self.removes = removes
        self.blockers = blockers


def covers(removed: str, column: str) -> bool:
    """Whether removing `removed` (a `table` or `table.column`) takes `column` away."""
    return column == removed or column.startswith(f"{removed}.")


def blockers_for(
    connection: Connection, removes: Iterable[str], live_window: timedelta = DEFAULT_LIVE_WINDOW
) -> list[Blocker]:
    """Live clients (seen within `live_window` by the database's clock) mapping any of `removes`."""
    removes = tuple(removes)
    found = []
    for client in live_clients(connection, live_window):
        columns = tuple(c for c in client.maps if any(covers(r, c) for r in removes))
        if columns:
            found.append(Blocker(client, columns))
    return found


def live_clients(connection: Connection, live_window: timedelta = DEFAULT_LIVE_WINDOW) -> list[Registration]:
    """Clients seen within `live_window` of the database's `now()`, most recent first."""
    query = (
        select(clients)
        .where(clients.c.last_seen_at >= func.now() - live_window)
        .order_by(clients.c.last_seen_at.desc(), clients.c.service, clients.c.instance)
    )
    return [from_row(row._mapping) for row in connection.execute(query)]


def lock_gate(connection: Connection) -> None:
    """Hold the registry lock exclusively until the transaction ends (waits for a running gate)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GATE_LOCK})


def check_gate(
    connection: Connection,
    revision: str,
    removes: tuple[str, ...],
    *,
    live_window: timedelta = DEFAULT_LIVE_WINDOW,
    force: bool = False,
    reason: str | None = None,
) -> None:
    """Let contract `revision` run, or raise `ContractBlockedError`; audit what was decided.

    With `force`, blockers are overridden and recorded with `reason` (required).
    """
    if force and not (reason and reason.strip()):
        raise ValueError("--force needs --reason: say why the live clients may lose these columns")
    blockers = blockers_for(connection, removes, live_window)
    detail = {
        "removes": list(removes),
        "live_window_seconds": int(live_window.total_seconds()),
        "blockers": [
            {
                "service": b.client.service,
                "instance": b.client.instance,
                "orm_models_version": b.client.orm_models_version,
                "last_seen_at": b.client.last_seen_at.isoformat(),
                "columns": list(b.columns),
            }
            for b in blockers
        ],
    }
    if blockers and not force:
        raise ContractBlockedError(revision, removes, blockers)
    action = "contract_forced" if blockers else "contract_applied"
    record(connection, action, revision=revision, reason=reason, detail=detail)
