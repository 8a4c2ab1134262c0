"""`orm-models status`: where the database stands, who uses it, and whether a contract may run."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from orm_models.__about__ import __version__
from orm_models.contract_gate import DEFAULT_LIVE_WINDOW, Blocker, blockers_for, live_clients
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
from orm_models.registry import Registration, registered_clients


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
    """Every registered client and whether it is live (seen within the window)."""
    heads: list[str] = field(default_factory=list)
    """Every revision the database is at: the expand branch's and, once contracts ran, the contract's."""
    contracted: bool = False
    """The contract branch's head has run."""


def collect_status(connection: Connection, live_window: timedelta = DEFAULT_LIVE_WINDOW) -> Status:
    """Read the database's revision, the registry and the pending revisions' gate verdicts."""
    current = current_revision(connection)
    heads = current_heads(connection)
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    ahead = any(head not in known for head in heads)
    registry = inspect(connection).has_table(CLIENT_TABLE)
    clients: list[tuple[Registration, bool]] = []
    if registry:
        live = {(c.service, c.instance) for c in live_clients(connection, live_window)}
        clients = [(c, (c.service, c.instance) in live) for c in registered_clients(connection)]
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
        current, head_revision(), ahead, live_window, registry, pending, clients, sorted(heads), contracted
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
        "clients": [_client(client) | {"live": live} for client, live in status.clients],
    }


def _client(client: Registration) -> dict[str, object]:
    return {
        "service": client.service,
        "instance": client.instance,
        "orm_models_version": client.orm_models_version,
        "first_seen_at": client.first_seen_at.isoformat(),
        "last_seen_at": client.last_seen_at.isoformat(),
        "maps": list(client.maps),
        "writes": list(client.writes),
    }


def to_json(status: Status) -> str:
    return json.dumps(to_dict(status), indent=2, sort_keys=True)


def blockers_table(blockers: tuple[Blocker, ...] | list[Blocker]) -> str:
    """Service, instance, version, last seen, columns: one line per blocking client."""
    rows: list[tuple[str, ...]] = [("service", "instance", "orm-models", "last seen", "still maps")]
    rows += [
        (
            b.client.service,
            b.client.instance,
            b.client.orm_models_version,
            b.client.last_seen_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
            ", ".join(b.columns),
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
    window = _duration(status.live_window)
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
        rows: list[tuple[str, ...]] = [("service", "instance", "orm-models", "last seen", "state", "maps")]
        rows += [
            (
                c.service,
                c.instance,
                c.orm_models_version,
                c.last_seen_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
                "live" if live else "stale",
                f"{len(c.maps)} columns" + (f", writes {len(c.writes)}" if c.writes else ", read-only"),
            )
            for c, live in status.clients
        ]
        lines.extend(f"  {line}" for line in _table(rows).splitlines())
    return "\n".join(lines)


def _duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `30s` or plain seconds; raises ValueError with the accepted forms."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "s")
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 24h, 90m, 2d, 30s)") from None
    if amount < 0:
        raise ValueError(f"not a duration: {text!r} (it must not be negative)")
    return timedelta(seconds=amount * units[unit])
