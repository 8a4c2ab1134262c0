"""`orm-models status`: where the database stands, who uses it, and whether a contract may run."""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from orm_models.__about__ import __version__
from orm_models.contract_gate import DEFAULT_LIVE_WINDOW, Blocker, blockers_for, window_cutoff
from orm_models.migrate import (
    alembic_config,
    branch_heads,
    current_heads,
    current_revision,
    head_revision,
    pending_revisions,
    removes,
)
from orm_models.migrations.client_registry import CLIENT_TABLE
from orm_models.observed import Observation, observed_clients, record_activity
from orm_models.registry import Registration, registered_clients, registered_identities


@dataclass(frozen=True)
class PendingRevision:
    """A revision the database has not run yet; for a contract one, what the gate says now."""

    revision: str
    phase: str
    removes: tuple[str, ...] = ()
    blockers: tuple[Blocker, ...] = ()

    @property
    def gate_passes(self) -> bool | None:
        """None for an expand revision (no gate), else whether no live client blocks it."""
        return None if self.phase != "contract" else not self.blockers


@dataclass(frozen=True)
class Status:
    """Everything `orm-models status` prints."""

    revision: str | None
    head: str
    ahead: bool
    """The database is at a revision this orm-models does not ship."""
    live_window: timedelta
    registry: bool
    pending: list[PendingRevision] = field(default_factory=list)
    clients: list[tuple[Registration, bool]] = field(default_factory=list)
    """Every registered service and version and whether it is live (seen within the window)."""
    heads: list[str] = field(default_factory=list)
    """Every revision the database is at: the expand branch's and, once contracts ran, the contract's."""
    contracted: bool = False
    """The contract branch's head has run."""
    live_instances: dict[tuple[str, str], int] = field(default_factory=dict)
    """Per (service, version): how many of its instances were seen within the window."""
    observed: list[tuple[Observation, bool, bool]] = field(default_factory=list)
    """Every client PostgreSQL showed: whether live, and whether a registration accounts for it."""

    @property
    def unregistered(self) -> list[Observation]:
        """Live observed clients no registration accounts for: their orm-models cannot register
        (a release before 2.3.0) or they do not call `register_client`."""
        return [o for o, live, attributed in self.observed if live and not attributed]


def collect_status(connection: Connection, live_window: timedelta = DEFAULT_LIVE_WINDOW) -> Status:
    """Read the database's revision, the registry and the pending revisions' gate verdicts."""
    current = current_revision(connection)
    heads = current_heads(connection)
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    ahead = any(head not in known for head in heads)
    registry = inspect(connection).has_table(CLIENT_TABLE)
    cutoff = window_cutoff(connection, live_window)
    clients: list[tuple[Registration, bool]] = []
    counts: dict[tuple[str, str], int] = {}
    if registry:
        clients = [(c, c.last_seen_at >= cutoff) for c in registered_clients(connection)]
        counts = {(c.service, c.orm_models_version): c.instances_since(cutoff) for c, _ in clients}
    registered = [c for c, _ in clients]
    identities = registered_identities(connection) if registry else set()
    observed = [
        (o, o.last_seen_at >= cutoff, o.attributed_to(registered, identities))
        for o in observed_clients(connection, record_activity(connection))
    ]
    pending = []
    for script in [] if ahead else pending_revisions(current, heads=heads):
        phase = str(getattr(script.module, "phase", "expand"))
        if phase != "contract":
            pending.append(PendingRevision(script.revision, phase))
            continue
        removed = removes(script)
        blockers = tuple(blockers_for(connection, removed, live_window)) if registry else ()
        pending.append(PendingRevision(script.revision, phase, removed, blockers))
    contract_head = branch_heads().get("contract")
    contracted = contract_head is not None and contract_head in heads
    return Status(
        current,
        head_revision(),
        ahead,
        live_window,
        registry,
        pending,
        clients,
        heads=sorted(heads),
        contracted=contracted,
        live_instances=counts,
        observed=observed,
    )


def to_dict(status: Status) -> dict[str, object]:
    """The status as plain JSON-able data (`orm-models status --json`)."""
    return {
        "orm_models_version": __version__,
        "database_revision": status.revision,
        "database_heads": status.heads,
        "head": status.head,
        "database_ahead": status.ahead,
        "live_window_seconds": int(status.live_window.total_seconds()),
        "registry": status.registry,
        "pending": [
            {
                "revision": p.revision,
                "phase": p.phase,
                "removes": list(p.removes),
                "gate_passes": p.gate_passes,
                "blocked_by": [_client(b.client) | {"columns": list(b.columns)} for b in p.blockers],
            }
            for p in status.pending
        ],
        "clients": [
            _client(client)
            | {
                "live": live,
                "live_instances": status.live_instances.get((client.service, client.orm_models_version), 0),
            }
            for client, live in status.clients
        ],
        "observed": [
            {
                "application_name": o.application_name,
                "role": o.role,
                "client_addr": o.client_addr,
                "first_seen_at": o.first_seen_at.isoformat(),
                "last_seen_at": o.last_seen_at.isoformat(),
                "touched": sorted(o.touched),
                "live": live,
                "registered": attributed,
            }
            for o, live, attributed in status.observed
        ],
        "unregistered": [o.name for o in status.unregistered],
    }


def _client(client: Registration) -> dict[str, object]:
    return {
        "service": client.service,
        "instance": client.instance,
        "instances": len(client.instances) or 1,
        "orm_models_version": client.orm_models_version,
        "first_seen_at": client.first_seen_at.isoformat(),
        "last_seen_at": client.last_seen_at.isoformat(),
        "maps": list(client.maps),
        "writes": list(client.writes),
    }


def to_json(status: Status) -> str:
    return json.dumps(to_dict(status), indent=2, sort_keys=True)


def blockers_table(blockers: tuple[Blocker, ...] | list[Blocker]) -> str:
    """Service (or observed application), instance, version, last seen, columns: one line each.

    An observed client's columns are followed by what PostgreSQL showed of it.
    """
    rows: list[tuple[str, ...]] = [("service", "instance", "orm-models", "last seen", "still maps")]
    rows += [
        (
            b.client.service,
            b.client.instance
            + (f" ({len(b.client.instances)} instances)" if len(b.client.instances) > 1 else ""),
            b.client.orm_models_version,
            b.client.last_seen_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
            ", ".join(b.columns) + (f" [observed: {b.evidence}]" if b.evidence else ""),
        )
        for b in blockers
    ]
    return _table(rows)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def to_text(status: Status) -> str:
    """The human-readable report."""
    window = format_duration(status.live_window)
    lines = [f"database revision: {status.revision or 'none (never migrated)'}"]
    if status.revision is not None and not status.ahead:
        contracts = "applied" if status.contracted else "held back"
        lines.append(f"  heads: {', '.join(status.heads)} (contract branch {contracts})")
    if status.ahead:
        lines.append(
            f"  newer than orm-models {__version__} knows (its head: {status.head}): "
            "a newer release migrated it"
        )
    lines.append(f"orm-models {__version__} head: {status.head}")
    if not status.pending and not status.ahead:
        lines.append("pending revisions: none")
    elif status.pending:
        lines.append("pending revisions:")
        for p in status.pending:
            if p.phase != "contract":
                lines.append(f"  {p.revision}  expand    (`orm-models migrate` applies it)")
                continue
            verdict = (
                "gate passes now" if p.gate_passes else f"gate refuses now: {len(p.blockers)} live client(s)"
            )
            lines.append(
                f"  {p.revision}  contract  removes {', '.join(p.removes) or '(nothing declared)'}; {verdict}"
            )
            if p.blockers:
                lines.extend(f"    {line}" for line in blockers_table(p.blockers).splitlines())
    if not status.registry:
        lines.append(
            "clients: no registry in this database yet (it comes with `orm-models migrate` from 2.3.0)"
        )
    elif not status.clients:
        lines.append("clients: none registered")
    else:
        lines.append(f"clients (live = seen within {window}):")
        rows: list[tuple[str, ...]] = [("service", "instances", "orm-models", "last seen", "state", "maps")]
        rows += [
            (
                c.service,
                _instances_cell(status, c),
                c.orm_models_version,
                c.last_seen_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
                "live" if live else "stale",
                f"{len(c.maps)} columns" + (f", writes {len(c.writes)}" if c.writes else ", read-only"),
            )
            for c, live in status.clients
        ]
        lines.extend(f"  {line}" for line in _table(rows).splitlines())
    lines.extend(_observed_lines(status, window))
    return "\n".join(lines)


def _instances_cell(status: Status, client: Registration) -> str:
    live = status.live_instances.get((client.service, client.orm_models_version), 0)
    return f"{live} live of {len(client.instances) or 1}"


def _observed_lines(status: Status, window: str) -> list[str]:
    if not status.observed:
        return ["observed by PostgreSQL: no client sessions"]
    lines = [f"observed by PostgreSQL (pg_stat_activity, live = seen within {window}):"]
    rows: list[tuple[str, ...]] = [
        ("application", "role@address", "last seen", "state", "registered", "named")
    ]
    rows += [
        (
            o.name,
            o.where,
            o.last_seen_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
            "live" if live else "stale",
            "yes" if attributed else "NO",
            ", ".join(sorted(name for name in o.touched if "." not in name)) or "-",
        )
        for o, live, attributed in status.observed
    ]
    lines.extend(f"  {line}" for line in _table(rows).splitlines())
    for o in status.unregistered:
        lines.append(
            f"  warning: {o.name} ({o.where}) uses this database without registering: its orm-models "
            "cannot register (a release before 2.3.0) or it never calls register_client; it blocks "
            "every contract while live (set application_name to its service name and register it)"
        )
    return lines


def format_duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST = timedelta(days=3650)
"""Ten years: a longer live window is a typo, and `timedelta` overflows near 2.7 million years."""


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `30s` or plain seconds: a positive, finite duration of at most ten years.

    Raises:
        ValueError: one line naming the input and the accepted forms (`inf`, `nan`, `1e400`,
            `0`, a negative number and anything else that is not such a duration).
    """
    value = text.strip().lower()
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "s")
    forms = "use e.g. 24h, 90m, 2d, 30s"
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} ({forms})") from None
    if not math.isfinite(amount) or amount <= 0:
        raise ValueError(f"not a duration: {text!r} (it must be positive and finite; {forms})")
    seconds = amount * _UNITS[unit]
    if seconds > _LONGEST.total_seconds():
        raise ValueError(f"not a duration: {text!r} (longer than {format_duration(_LONGEST)}; {forms})")
    window = timedelta(seconds=seconds)
    if not window:  # below a microsecond
        raise ValueError(f"not a duration: {text!r} (it must be positive and finite; {forms})")
    return window
