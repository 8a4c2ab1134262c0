"""Run the packaged Alembic migrations against a database, from code or the CLI."""

from collections.abc import Iterable
from datetime import timedelta

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, text

from orm_models.__about__ import __version__
from orm_models.contract_gate import DEFAULT_LIVE_WINDOW, check_gate, lock_gate
from orm_models.observed import OWN_APPLICATION
from orm_models.registry import DEFAULT_HEARTBEAT_INTERVAL
from orm_models.sql_target import begin

# Resolved from the installed package, so a service migrates with the wheel it runs on.
SCRIPT_LOCATION = "orm_models:migrations"


def alembic_config(connection: Connection | Engine | None = None) -> Config:
    """Build the Alembic configuration in code; no alembic.ini is needed.

    Args:
        connection: When given, migrations run on it: a Connection inside its transaction,
            an Engine in a transaction of their own that commits on success.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped in this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("orm_models ships no migrations")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


class DatabaseAheadError(RuntimeError):
    """The database is at a revision this orm-models does not ship: a newer release migrated it.

    Attributes:
        revision: The database's revision.
    """

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"the database is at revision {revision}, which orm-models {__version__} does not ship: a newer "
            "orm-models migrated it. Nothing was changed; run `orm-models migrate` from the newest release "
            "instead (this release's clients keep working while every column they map is there)"
        )
        self.revision = revision


def migrate(
    target: str | Engine | Connection,
    revision: str = "head",
    *,
    contract: bool = False,
    live_window: timedelta = DEFAULT_LIVE_WINDOW,
    force: bool = False,
    reason: str | None = None,
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT_INTERVAL,
    ignore: Iterable[str] = (),
) -> str | None:
    """Upgrade the database towards `revision` (default: the newest shipped).

    Expand revisions always run. A **contract** revision (`phase = "contract"`: it drops or
    tightens what older clients may still map) runs only with `contract=True`, or on a database
    that was never migrated (no client can depend on it yet); otherwise the upgrade stops just
    before it and its id is returned, so nothing an old release maps is removed by accident.

    With `contract=True` each contract revision passes the gate first (`orm_models.contract_gate`):
    no client registered (`orm_models.registry.register_client`) and seen within `live_window`
    may still map what it drops or tightens, and no client PostgreSQL showed connected within it
    may have used it (`orm_models.observed`). Two contract migrations serialise on an advisory
    lock, and a client registering meanwhile is either seen by the gate or waits until the
    contract committed.

    Args:
        target: A database URL (`postgresql://`, `postgres://` and `postgresql+psycopg2://` all
            use psycopg2, see `orm_models.urls`), an engine, or a connection. With a connection
            the caller owns the transaction; otherwise the upgrade commits on success
            (and nothing is changed when the gate refuses).
        revision: Any Alembic revision identifier.
        contract: Also apply contract revisions (they pass the gate first).
        live_window: How recently a client must have been seen to count as live.
        force: Apply contract revisions despite live clients; needs `reason`, which the audit
            table records with who and when.
        reason: Why forcing is right (required with `force`).
        heartbeat_interval: How often the services heartbeat; a shorter `live_window` is an
            override (needs `force` and `reason`).
        ignore: Application names the operator vouches for: their observed sessions do not
            block (recorded in the audit table).

    Returns:
        The id of the first contract revision held back, or None when `revision` was reached.

    Raises:
        ContractBlockedError: Live clients still map what a contract revision removes.
        LiveWindowTooShortError: `live_window` is shorter than the heartbeat interval, unforced.
        DatabaseAheadError: The database is at a revision this release does not ship.
    """
    with begin(target) as connection:
        config = alembic_config(connection)
        if contract:
            # Named for this transaction: a second contract migration waiting for the lock is no client.
            connection.execute(text(f"SET LOCAL application_name = '{OWN_APPLICATION} migrate'"))
            lock_gate(connection)  # before reading the revision: a contract running now finishes first
        current = current_revision(connection)
        scripts = ScriptDirectory.from_config(config)
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise DatabaseAheadError(current)
        contracts = [] if current is None else _pending_contracts(scripts, current, revision)
        if not contracts:
            command.upgrade(config, revision)
            return None
        if not contract:
            held = contracts[0]
            if held.down_revision != current:
                command.upgrade(config, str(held.down_revision))
            return held.revision
        for script in contracts:
            command.upgrade(config, str(script.down_revision))
            check_gate(
                connection,
                script.revision,
                removes(script),
                live_window=live_window,
                force=force,
                reason=reason,
                heartbeat_interval=heartbeat_interval,
                ignore=ignore,
            )
            command.upgrade(config, script.revision)
        command.upgrade(config, revision)
        return None


def removes(script: Script) -> tuple[str, ...]:
    """What a contract revision declares it drops (`drops`) or tightens (`tightens`)."""
    return (*getattr(script.module, "drops", ()), *getattr(script.module, "tightens", ()))


def pending_contract_drops(revision_id: str) -> tuple[str, ...]:
    """What a contract revision declares it removes (`drops = ("table.column", ...)`)."""
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision_id)
    return removes(script) if script is not None else ()


def pending_revisions(current: str | None, target: str = "head") -> list[Script]:
    """The revisions between `current` (exclusive) and `target` (inclusive), oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config())
    pending = [s for s in scripts.iterate_revisions(target, current or "base") if s.revision != current]
    return list(reversed(pending))  # iterate_revisions walks newest first


def _pending_contracts(scripts: ScriptDirectory, current: str, target: str) -> list[Script]:
    """The contract revisions between `current` (exclusive) and `target` (inclusive), oldest first."""
    pending = [s for s in scripts.iterate_revisions(target, current) if s.revision != current]
    return [s for s in reversed(pending) if getattr(s.module, "phase", "expand") == "contract"]


def downgrade(target: str | Engine | Connection, revision: str) -> None:
    """Downgrade the database to `revision` (`base` removes every table of this package)."""
    with begin(target) as connection:
        command.downgrade(alembic_config(connection), revision)
