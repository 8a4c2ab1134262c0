"""The contract gate: a contract revision runs only once no live client uses what it removes.

Live clients are the registered ones seen within the live window (`orm_models.registry`) and
the ones PostgreSQL showed connected within it (`orm_models.observed`). A registered client
blocks while it maps a removed column. An observed one blocks while a sampled statement of it
named a removed column, or, when no registration accounts for it (its application name is no
registered service's, nor does it connect as a registered client did), at all: the gate cannot
know what an unregistered client maps. `ignore` names applications the operator vouches for.

`migrate(contract=True)` calls `check_gate` inside its transaction, after taking the registry's
advisory lock exclusively: a registration committed before that is seen, and one that comes
later waits until the contract has committed (and then finds the new schema). Two contract
migrations serialise on the same lock; the second one finds the revision already applied.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from orm_models.observed import Observation, observed_clients, record_activity
from orm_models.registry import (
    DEFAULT_HEARTBEAT_INTERVAL,
    GATE_LOCK,
    Registration,
    record,
    registered_clients,
    registered_identities,
)

DEFAULT_LIVE_WINDOW = timedelta(hours=24)
"""A client seen this recently counts as live: long enough for a daily loader."""

NOT_REGISTERED = "not registered"
"""What the gate and `status` show as the orm-models version of an observed client."""


@dataclass(frozen=True)
class Blocker:
    """A live client that still maps (or, observed, may use) something a contract revision removes.

    Attributes:
        client: The registration; for an observed client, one built from what PostgreSQL showed
            (service: its application name, instance: `role@address`, version: "not registered"
            or the registered service's).
        columns: The removed columns it maps, or (observed) that it was seen using or may use.
        evidence: For an observed client, what was seen: the statement names and when.
    """

    client: Registration
    columns: tuple[str, ...]
    evidence: str = ""

    @property
    def observed(self) -> bool:
        return bool(self.evidence)


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


class LiveWindowTooShortError(ValueError):
    """The live window is shorter than the heartbeat interval and no override was given."""


def covers(removed: str, column: str) -> bool:
    """Whether removing `removed` (a `table` or `table.column`) takes `column` away."""
    return column == removed or column.startswith(f"{removed}.")


def window_cutoff(connection: Connection, live_window: timedelta) -> datetime:
    """The database's `now()` minus the window: its clock is the one every last-seen time uses."""
    found: datetime = connection.execute(text("SELECT now() - :window"), {"window": live_window}).scalar_one()
    return found


def blockers_for(
    connection: Connection,
    removes: Iterable[str],
    live_window: timedelta = DEFAULT_LIVE_WINDOW,
    ignore: Iterable[str] = (),
) -> list[Blocker]:
    """Live clients using any of `removes`: registered ones that map them, then observed ones.

    Samples `pg_stat_activity` first (`orm_models.observed.record_activity`), so a client
    connected now is seen even where nothing sampled before.
    """
    removes = tuple(removes)
    cutoff = window_cutoff(connection, live_window)
    registered = registered_clients(connection)
    found = []
    for client in registered:
        if client.last_seen_at < cutoff:
            continue
        columns = tuple(c for c in client.maps if any(covers(r, c) for r in removes))
        if columns:
            found.append(Blocker(client, columns))
    observations = observed_clients(connection, record_activity(connection))
    identities = registered_identities(connection)
    skip = set(ignore)
    for observation in observations:
        if observation.last_seen_at < cutoff or observation.application_name in skip:
            continue
        blocker = _observed_blocker(observation, removes, cutoff, registered, identities)
        if blocker is not None:
            found.append(blocker)
    return found


def _observed_blocker(
    observation: Observation,
    removes: tuple[str, ...],
    cutoff: datetime,
    registered: list[Registration],
    identities: set[tuple[str, str, str]],
) -> Blocker | None:
    recent = {name: at for name, at in observation.touched.items() if at >= cutoff}
    used = sorted(name for name in recent if "." in name and any(covers(r, name) for r in removes))
    attributed = observation.attributed_to(registered, identities)
    if not used and attributed:
        return None  # its registration says what it maps
    tables = sorted({r.split(".")[0] for r in removes} & recent.keys())
    if used:
        at = max(recent[name] for name in used)
        seen_in = " (pg_stat_statements)" if observation.from_statements else ""
        evidence = f"a statement named {', '.join(used)} ({at:%Y-%m-%d %H:%M:%S %Z}){seen_in}"
    elif tables:
        evidence = f"not registered; a statement named table {', '.join(tables)}"
    else:
        evidence = "not registered; what it uses was not seen (idle when sampled)"
    version = next(
        (c.orm_models_version for c in registered if c.service == observation.application_name), None
    )
    client = Registration(
        service=observation.name,
        instance=observation.where,
        orm_models_version=version or NOT_REGISTERED,
        maps=tuple(used),
        writes=(),
        first_seen_at=observation.first_seen_at,
        last_seen_at=observation.last_seen_at,
    )
    return Blocker(client, tuple(used) or removes, evidence)


def heartbeat_floor(
    connection: Connection, live_window: timedelta, heartbeat_interval: timedelta = DEFAULT_HEARTBEAT_INTERVAL
) -> timedelta:
    """The shortest honest live window: the heartbeat interval, or a live client's longer one."""
    cutoff = window_cutoff(connection, live_window)
    declared = [
        c.heartbeat for c in registered_clients(connection) if c.heartbeat and c.last_seen_at >= cutoff
    ]
    return max([heartbeat_interval, *declared])


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
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT_INTERVAL,
    ignore: Iterable[str] = (),
) -> None:
    """Let contract `revision` run, or raise `ContractBlockedError`; audit what was decided.

    With `force`, blockers are overridden and recorded with `reason` (required). A live window
    shorter than the heartbeat interval (or a live client's declared one) is such an override
    too: a client between two heartbeats would look gone.

    Raises:
        ContractBlockedError: Live clients use what the revision removes.
        LiveWindowTooShortError: The window is shorter than the heartbeat interval, without force.
        ValueError: `force` without a `reason`.
    """
    if force and not (reason and reason.strip()):
        raise ValueError("--force needs --reason: say why the live clients may lose these columns")
    floor = heartbeat_floor(connection, live_window, heartbeat_interval)
    if live_window < floor and not force:
        raise LiveWindowTooShortError(
            f"a live window of {_seconds(live_window)} is shorter than the heartbeat interval "
            f"({_seconds(floor)}): a client between two heartbeats would count as gone; use a longer "
            "--live-window, declare a shorter --heartbeat-interval, or override with --force --reason '...'"
        )
    ignored = sorted(set(ignore))
    blockers = blockers_for(connection, removes, live_window, ignored)
    detail = {
        "removes": list(removes),
        "live_window_seconds": live_window.total_seconds(),
        "heartbeat_interval_seconds": floor.total_seconds(),
        "ignored_applications": ignored,
        "blockers": [
            {
                "service": b.client.service,
                "instance": b.client.instance,
                "orm_models_version": b.client.orm_models_version,
                "last_seen_at": b.client.last_seen_at.isoformat(),
                "columns": list(b.columns),
                "observed": b.evidence or None,
            }
            for b in blockers
        ],
    }
    if blockers and not force:
        raise ContractBlockedError(revision, removes, blockers)
    action = "contract_forced" if blockers or live_window < floor else "contract_applied"
    record(connection, action, revision=revision, reason=reason, detail=detail)


def _seconds(window: timedelta) -> str:
    return f"{window.total_seconds():g}s"


def live_clients(connection: Connection, live_window: timedelta = DEFAULT_LIVE_WINDOW) -> list[Registration]:
    """Registered clients (per service and version) seen within `live_window`, most recent first."""
    cutoff = window_cutoff(connection, live_window)
    return [c for c in registered_clients(connection) if c.last_seen_at >= cutoff]
