"""Run the packaged Alembic migrations against a database, from code or the CLI."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from orm_models.__about__ import __version__
from orm_models.contract_gate import DEFAULT_LIVE_WINDOW, check_gate, lock_gate
from orm_models.observed import OWN_APPLICATION
from orm_models.registry import DEFAULT_HEARTBEAT_INTERVAL, GATE_LOCK
from orm_models.urls import database_url
from orm_models.version_state import ancestors, database_heads, expand_position, reduce_heads

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


EXPAND_BRANCH = "expand"
CONTRACT_BRANCH = "contract"


def scripts() -> ScriptDirectory:
    """The revisions shipped in this package."""
    return ScriptDirectory.from_config(alembic_config())


def branch_heads(directory: ScriptDirectory | None = None) -> dict[str, str]:
    """The head of each branch: `{"expand": ..., "contract": ...}` (expand and contract).

    A revision's branch is its phase: expand revisions depend only on expand revisions, contract
    revisions come after the contract branch's head (OpenStack Neutron's model).
    """
    directory = directory or scripts()
    heads: dict[str, str] = {}
    for head in directory.get_heads():
        script = directory.get_revision(head)
        heads[str(getattr(script.module, "phase", "expand") if script else "expand")] = head
    return heads


def head_revision() -> str:
    """The expand branch's head: where `orm-models migrate` brings a database.

    The contract branch's head (`branch_heads()["contract"]`) is applied with `--contract`.
    """
    return branch_heads()[EXPAND_BRANCH]


def current_heads(connection: Connection) -> frozenset[str]:
    """Every revision the database is at (its heads: one per branch once contracts ran)."""
    return database_heads(connection, scripts())


def current_revision(connection: Connection) -> str | None:
    """How far the database is along the expand branch, or None for a database never migrated.

    That is the revision to compare with `head_revision()`; `current_heads` adds the contract
    branch's. A database at a revision this package does not ship (a newer release migrated it)
    reads as that revision.
    """
    directory = scripts()
    heads = database_heads(connection, directory)
    unknown = sorted(h for h in heads if h not in _known(directory))
    if unknown:
        return unknown[-1]
    return expand_position(heads, directory)


def _known(directory: ScriptDirectory) -> set[str]:
    return {s.revision for s in directory.walk_revisions()}


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
    """Upgrade the database towards `revision` (default: the head of both branches).

    The revisions form two Alembic branches: `expand` and `contract`. Expand revisions always
    run (they never depend on a contract one, so a database holding contracts back still gets
    every expand). A **contract** revision (`phase = "contract"`: it drops or tightens what
    older clients may still map) runs only with `contract=True`, or on a database that was never
    migrated (no client can depend on it yet); otherwise it is held back and the first held
    one's id is returned, so nothing an old release maps is removed by accident.

    With `contract=True` each contract revision passes the gate first (`orm_models.contract_gate`):
    no client registered (`orm_models.registry.register_client`) and seen within `live_window`
    may still map what it drops or tightens, and no client PostgreSQL showed connected within it
    may have used it (`orm_models.observed`). Two contract migrations serialise on an advisory
    lock, and a client registering meanwhile is either seen by the gate or waits until the
    contract committed.

    Args:
        target: A database URL (`postgresql://`, `postgres://` and `postgresql+psycopg2://` all
            use psycopg2, see `orm_models.urls`), an engine, or a connection. With a URL or an
            engine Alembic owns the transactions, so a revision may use
            `op.get_context().autocommit_block()` (`CREATE INDEX CONCURRENTLY`); each upgrade
            commits on success, and nothing is changed when the gate refuses. With a connection
            the caller owns the transaction (and commits it); a revision with an autocommit
            block then raises `AutocommitInCallerTransactionError`.
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
        AutocommitInCallerTransactionError: A revision needs an autocommit block and `target`
            is a connection in a transaction.
        ContractBlockedError: Live clients still map what a contract revision removes.
        LiveWindowTooShortError: `live_window` is shorter than the heartbeat interval, unforced.
        DatabaseAheadError: The database is at a revision this release does not ship.
    """
    gate = partial(
        check_gate,
        live_window=live_window,
        force=force,
        reason=reason,
        heartbeat_interval=heartbeat_interval,
        ignore=ignore,
    )
    with _connection(target) as (connection, owned):
        config = alembic_config(connection)
        if contract:  # before reading the revision: a contract running now finishes first
            _hold_gate(connection, owned)
        try:
            directory = ScriptDirectory.from_config(config)
            heads = database_heads(connection, directory)
            unknown = sorted(h for h in heads if h not in _known(directory))
            if unknown:
                raise DatabaseAheadError(unknown[-1])
            target_revision = "heads" if revision == "head" else revision
            pending = _pending(directory, heads, target_revision) if heads else []
            contracts = [s for s in pending if _is_contract(s)]
            expand_tips = sorted(
                reduce_heads(frozenset(s.revision for s in pending if not _is_contract(s)), directory)
            )
            # With Alembic committing each upgrade, every contract's gate is tried first, in the
            # transaction of the last expand (the registry it reads may be an expand's), so a
            # refusal rolls that back too and changes nothing.
            try_gates = partial(_try_gates, gate=gate, contracts=contracts)
            if owned and contract and contracts and not expand_tips:
                try_gates(connection)
            _end_reads(connection, owned)
            if not heads:  # never migrated: no client can depend on anything a contract removes
                command.upgrade(config, target_revision)
                return None
            for tip in expand_tips:  # expand revisions never need a contract: all of them run
                if owned and contract and contracts and tip == expand_tips[-1]:
                    config.attributes[AFTER_MIGRATIONS] = try_gates
                command.upgrade(config, tip)
                config.attributes.pop(AFTER_MIGRATIONS, None)
            if contracts and not contract:
                return contracts[0].revision
            for script in contracts:
                # Decided inside the revision's own transaction (env.py calls it first): the gate's
                # audit row and the contract commit together, or neither does.
                config.attributes[BEFORE_MIGRATIONS] = partial(
                    gate, revision=script.revision, removes=removes(script)
                )
                command.upgrade(config, script.revision)
            return None
        finally:
            if contract:
                _release_gate(connection, owned)


BEFORE_MIGRATIONS = "before_migrations"
"""`config.attributes` key: a callable env.py calls with the connection before running revisions."""
AFTER_MIGRATIONS = "after_migrations"
"""`config.attributes` key: a callable env.py calls with the connection after them, in their transaction."""


def _try_gates(connection: Connection, gate: Callable[..., None], contracts: list[Script]) -> None:
    """Every contract's gate, undone (audit rows, samples) unless one refuses: then it raises."""
    with connection.begin_nested() as trial:
        for script in contracts:
            gate(connection, script.revision, removes(script))
        trial.rollback()


@contextmanager
def _connection(target: str | Engine | Connection) -> Iterator[tuple[Connection, bool]]:
    """The connection to migrate on, and whether this module owns its transactions.

    A URL or an Engine: a connection outside any transaction, so Alembic begins (and commits)
    the migrations' transaction itself and `op.get_context().autocommit_block()` can commit it
    and run `CREATE INDEX CONCURRENTLY` outside one. A Connection: the caller's transaction,
    never committed here; a revision with an autocommit block then fails with a clear error
    (`AutocommitInCallerTransactionError`), since committing would end the caller's transaction.
    """
    if isinstance(target, Connection):
        yield target, False
        return
    # Named from its first statement: a contract migration started beside this one samples the
    # sessions it sees, and a nameless one (before `_hold_gate` names it) would be a client.
    named = {"connect_args": {"application_name": f"{OWN_APPLICATION} migrate"}}
    engine = create_engine(database_url(target), **named) if isinstance(target, str) else target
    try:
        with engine.connect() as connection:
            yield connection, True
    finally:
        if isinstance(target, str):
            engine.dispose()


def _end_reads(connection: Connection, owned: bool) -> None:
    """End the reading transaction (rolled back: it wrote nothing to keep) before Alembic begins its own."""
    if owned:
        connection.rollback()


def _hold_gate(connection: Connection, owned: bool) -> None:
    """Take the gate's lock: for the transaction with the caller's, for the session otherwise.

    Alembic commits between revisions (and inside autocommit blocks), so an owned connection holds
    the session-level lock until every contract committed: two contract migrations still serialise,
    and a registration still waits for the gate that decided without it.
    """
    if not owned:
        # Named for this transaction: a second contract migration waiting for the lock is no client.
        connection.execute(text(f"SET LOCAL application_name = '{OWN_APPLICATION} migrate'"))
        lock_gate(connection)
        return
    connection.execute(text(f"SET application_name = '{OWN_APPLICATION} migrate'"))
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": GATE_LOCK})
    connection.commit()  # the name outlives the rollbacks below; the lock is the session's


def _release_gate(connection: Connection, owned: bool) -> None:
    """Give the session-level lock back (an Engine's pooled connection outlives this migration)."""
    if not owned:
        return
    try:
        connection.rollback()  # a failed migration leaves its transaction aborted
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": GATE_LOCK})
        connection.execute(text("RESET application_name"))
        connection.commit()
    except DBAPIError:  # the session is gone, and its lock with it: the migration's error stands
        connection.invalidate()


class AutocommitInCallerTransactionError(RuntimeError):
    """A revision needs an autocommit block, but migrate() was given a connection in a transaction.

    Attributes:
        revision: The revision that opened the block.
    """

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"revision {revision} runs outside a transaction (op.get_context().autocommit_block()), "
            "which would commit the caller's transaction: pass migrate() a database URL or an Engine, "
            "not a Connection in a transaction"
        )
        self.revision = revision


def removes(script: Script) -> tuple[str, ...]:
    """What a contract revision declares it drops (`drops`) or tightens (`tightens`)."""
    return (*getattr(script.module, "drops", ()), *getattr(script.module, "tightens", ()))


def pending_contract_drops(revision_id: str) -> tuple[str, ...]:
    """What a contract revision declares it removes (`drops = ("table.column", ...)`)."""
    script = scripts().get_revision(revision_id)
    return removes(script) if script is not None else ()


def pending_revisions(
    current: str | None, target: str = "head", heads: frozenset[str] | None = None
) -> list[Script]:
    """The revisions `target` (default: both branches' heads) needs that the database lacks, oldest first.

    Args:
        current: The database's revision (`current_revision`), when `heads` is not given.
        target: Any Alembic revision identifier; `head` means the head of each branch.
        heads: The database's heads (`current_heads`): exact when contracts ran.
    """
    directory = scripts()
    known = heads if heads is not None else frozenset({current} if current else ())
    return _pending(directory, known, "heads" if target == "head" else target)


def _pending(directory: ScriptDirectory, heads: frozenset[str], target: str) -> list[Script]:
    targets = frozenset(s.revision for s in directory.get_revisions(target) if s is not None)
    missing = ancestors(targets, directory) - ancestors(heads, directory)
    in_order = reversed(list(directory.walk_revisions()))  # walk_revisions goes newest first
    return [s for s in in_order if s.revision in missing]


def _is_contract(script: Script) -> bool:
    return getattr(script.module, "phase", "expand") == "contract"


def downgrade(target: str | Engine | Connection, revision: str) -> None:
    """Downgrade the database to `revision` (`base` removes every table of this package).

    Transactions as in `migrate`: Alembic's with a URL or an engine, the caller's with a connection.
    """
    with _connection(target) as (connection, _owned):
        command.downgrade(alembic_config(connection), revision)
