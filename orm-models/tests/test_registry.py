"""The client registry, the contract gate on it, `status`, and their races."""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from released import FIRST_CONTRACT, LAST_1X_HEAD

import orm_models
from orm_models import ContractBlockedError, RegistrationError, head_revision, migrate, register_client
from orm_models.cli import main
from orm_models.contract_gate import lock_gate
from orm_models.migrate import branch_heads, current_heads, pending_revisions
from orm_models.migrations.client_registry import AUDIT_TABLE, CLIENT_TABLE
from orm_models.migrations.service_registry import OBSERVED_TABLE, SERVICE_TABLE, STATEMENT_TABLE
from orm_models.observed import OWN_APPLICATION
from orm_models.registry import forget_client, mapped_columns, registered_clients

CLI = str(Path(sys.executable).with_name("orm-models"))
V1_MAPS = ["organization.name", "person.family_name", "person.given_name", "person.last_name"]


@pytest.fixture
def expanded(create_database: Callable[[], str]) -> Iterator[tuple[str, sa.Engine]]:
    """A database in the expand state: 1.1.0's schema migrated by this release, contract held back."""
    url = create_database()
    migrate(url, LAST_1X_HEAD)
    assert migrate(url) == FIRST_CONTRACT
    engine = _engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def shared_database(create_database: Callable[[], str]) -> Iterator[tuple[str, sa.Engine]]:
    url = create_database()
    migrate(url, LAST_1X_HEAD)
    assert migrate(url) == FIRST_CONTRACT
    engine = _engine(url)
    yield url, engine
    engine.dispose()


_REGISTRY_TABLES = (CLIENT_TABLE, AUDIT_TABLE, SERVICE_TABLE, OBSERVED_TABLE, STATEMENT_TABLE)


@pytest.fixture
def registry(shared_database: tuple[str, sa.Engine]) -> tuple[str, sa.Engine]:
    """The expand-state database shared by the tests that never apply the contract; registry emptied."""
    with shared_database[1].begin() as connection:
        # Every registry table the database has: which exist depends on the revisions it ran.
        tables = [t for t in _REGISTRY_TABLES if sa.inspect(connection).has_table(t)]
        connection.execute(sa.text(f"TRUNCATE {', '.join(tables)}"))
    return shared_database


def _engine(url: str) -> sa.Engine:
    """No idle pooled sessions: the gate observes every session a client keeps open, and this
    test process is no client (it registers the clients it plays explicitly)."""
    return sa.create_engine(url, poolclass=sa.NullPool)


def _age(engine: sa.Engine, service: str, by: timedelta) -> None:
    """Move a service's last heartbeat into the past, as if it had stopped `by` ago."""
    with engine.begin() as connection:
        for table in ("schema_client", "schema_service"):
            if connection.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None:
                connection.execute(
                    sa.text(f"UPDATE {table} SET last_seen_at = last_seen_at - :by WHERE service = :s"),
                    {"by": by, "s": service},
                )


def _contracted(engine: sa.Engine) -> bool:
    """Whether the contract branch's head has run (the tree's heads, never a literal id)."""
    with engine.connect() as connection:
        return branch_heads()["contract"] in current_heads(connection)


def _audit(engine: sa.Engine) -> list[sa.Row[tuple[str, str | None, str | None, str | None]]]:
    with engine.connect() as connection:
        query = "SELECT action, service, reason, revision FROM schema_client_audit ORDER BY id"
        return list(connection.execute(sa.text(query)).all())


def _pending_contracts(engine: sa.Engine) -> list[str]:
    """The contract revisions `migrate(contract=True)` runs here, oldest first: the released one,
    and any later contract the tree holds (the next major's), each audited on its own."""
    with engine.connect() as connection:
        pending = pending_revisions(None, heads=current_heads(connection))
    return [s.revision for s in pending if getattr(s.module, "phase", "expand") == "contract"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_register_records_the_installed_models_and_refreshes(registry: tuple[str, sa.Engine]) -> None:
    _, engine = registry
    first = register_client(engine, service="api", instance="web-1")
    again = register_client(engine, service="api", instance="web-1", written=["person.given_name"])
    assert first.maps == mapped_columns()
    assert "person.family_name" in first.maps
    assert "schema_client.service" not in first.maps  # the registry is not a model
    assert again.first_seen_at == first.first_seen_at
    assert again.last_seen_at >= first.last_seen_at
    assert again.writes == ("person.given_name",)
    with engine.connect() as connection:
        assert [(c.service, c.instance) for c in registered_clients(connection)] == [("api", "web-1")]


def test_the_gate_refuses_while_a_live_client_maps_the_drop(expanded: tuple[str, sa.Engine]) -> None:
    url, engine = expanded
    register_client(engine, service="loader", instance="nightly", mapped=V1_MAPS, version="1.1.0")
    register_client(engine, service="api", instance="web-1")  # 2.x: does not map last_name

    with pytest.raises(ContractBlockedError) as refused:
        migrate(url, contract=True)
    assert refused.value.revision == FIRST_CONTRACT
    assert [(b.client.service, b.client.orm_models_version, b.columns) for b in refused.value.blockers] == [
        ("loader", "1.1.0", ("person.last_name",))
    ]
    assert not _contracted(engine)  # nothing dropped
    with engine.connect() as connection:
        assert "last_name" in {c["name"] for c in sa.inspect(connection).get_columns("person")}

    _age(engine, "loader", timedelta(days=2))  # its last heartbeat was two days ago: not live now
    contracts = _pending_contracts(engine)
    assert migrate(url, contract=True) is None
    assert _contracted(engine)
    assert [(row.action, row.revision) for row in _audit(engine)] == [
        ("contract_applied", c) for c in contracts
    ]


def test_force_needs_a_reason_and_is_audited(expanded: tuple[str, sa.Engine]) -> None:
    url, engine = expanded
    register_client(engine, service="loader", instance="nightly", mapped=V1_MAPS, version="1.1.0")
    with pytest.raises(ValueError, match="--reason"):
        migrate(url, contract=True, force=True)
    contracts = _pending_contracts(engine)
    assert migrate(url, contract=True, force=True, reason="loader retired, host gone") is None
    audit = _audit(engine)
    # The released contract drops what the 1.x loader maps: forced. A later contract in the tree
    # may drop nothing it maps (then applied), but every one carries the reason.
    assert (audit[0].action, audit[0].revision) == ("contract_forced", FIRST_CONTRACT)
    assert [(r.revision, r.reason) for r in audit] == [(c, "loader retired, host gone") for c in contracts]


def test_forget_removes_and_audits(registry: tuple[str, sa.Engine]) -> None:
    url, engine = registry
    register_client(engine, service="loader", instance="a", mapped=V1_MAPS)
    register_client(engine, service="loader", instance="b", mapped=V1_MAPS)
    assert forget_client(engine, "loader", "a") == 1
    assert forget_client(engine, "nobody") == 0
    result = _cli("clients", "forget", "loader", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert "forgot loader" in result.stdout
    assert [(r.action, r.service) for r in _audit(engine)] == [("forget", "loader"), ("forget", "loader")]
    assert _cli("clients", "forget", "loader", "--database-url", url).returncode == 1


def test_cli_refusal_names_client_version_and_column(expanded: tuple[str, sa.Engine]) -> None:
    url, engine = expanded
    register_client(engine, service="loader", instance="nightly", mapped=V1_MAPS, version="1.1.0")
    refused = _cli("migrate", "--contract", "--database-url", url)
    assert refused.returncode == 1
    assert "contract revision 0003 refused" in refused.stderr
    header, row = refused.stdout.splitlines()[:2]
    assert header.split() == ["service", "instance", "orm-models", "last", "seen", "still", "maps"]
    assert row.split()[:3] == ["loader", "nightly", "1.1.0"]
    assert row.endswith("person.last_name")
    assert not _contracted(engine)

    status = json.loads(_cli("status", "--json", "--database-url", url).stdout)
    assert status["database_revision"] == head_revision()  # every expand revision ran
    assert branch_heads()["contract"] not in status["database_heads"]
    contract = next(p for p in status["pending"] if p["phase"] == "contract")
    assert contract["removes"] == ["person.last_name"]
    assert contract["gate_passes"] is False
    assert [c["service"] for c in contract["blocked_by"]] == ["loader"]
    assert "gate refuses now" in _cli("status", "--database-url", url).stdout

    forced = _cli("migrate", "--contract", "--force", "--database-url", url)
    assert forced.returncode == 2
    assert "--reason" in forced.stderr
    short = _cli("migrate", "--contract", "--live-window", "5s", "--database-url", url)
    assert short.returncode == 2  # shorter than the heartbeat interval: an override
    assert "shorter than the heartbeat interval" in short.stderr
    _age(engine, "loader", timedelta(hours=2))
    assert _cli("migrate", "--contract", "--live-window", "1h", "--database-url", url).returncode == 0
    assert _cli("status", "--json", "--database-url", url).stdout.count('"pending": []') == 1
    assert _cli("status", "--live-window", "soon", "--database-url", url).returncode == 2


def test_registration_errors_are_one_line(create_database: Callable[[], str]) -> None:
    url = create_database()
    migrate(url, "0002b")  # 2.2.1's expand state: no registry yet
    engine = sa.create_engine(url)
    with pytest.raises(RegistrationError, match="no client registry") as missing:
        register_client(engine, service="api")
    assert not missing.value.read_only
    migrate(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE ROLE reader_9 LOGIN"))
        connection.execute(sa.text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader_9"))
    reader = sa.create_engine(sa.make_url(url).set(username="reader_9", password=None))
    try:
        with pytest.raises(RegistrationError) as read_only:
            register_client(reader, service="api")
        assert read_only.value.read_only
        assert "\n" not in str(read_only.value)
    finally:
        reader.dispose()
        with engine.begin() as connection:
            connection.execute(sa.text("DROP OWNED BY reader_9"))
            connection.execute(sa.text("DROP ROLE reader_9"))
        engine.dispose()


def _wait_until_blocked(engine: sa.Engine, thread: threading.Thread) -> None:
    """Until some session waits on an advisory lock (or the thread ended: the test then fails)."""
    while thread.is_alive():
        with engine.connect() as connection:
            waiting: int = connection.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.02)


def test_a_registration_in_flight_is_seen_by_the_gate(registry: tuple[str, sa.Engine]) -> None:
    """A 1.x client registering while the contract starts: the gate waits for it, then refuses."""
    url, engine = registry
    outcome: list[BaseException | None] = []

    def contract() -> None:
        try:
            migrate(url, contract=True)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    with engine.connect() as registering:
        transaction = registering.begin()
        register_client(registering, service="loader", instance="nightly", mapped=V1_MAPS, version="1.1.0")
        gate = threading.Thread(target=contract)
        gate.start()
        _wait_until_blocked(engine, gate)
        transaction.commit()  # the registration lands while the gate waits for the lock
    gate.join(timeout=60)
    assert isinstance(outcome[0], ContractBlockedError)
    assert not _contracted(engine)


def test_a_registration_during_the_gate_waits_for_it(registry: tuple[str, sa.Engine]) -> None:
    _url, engine = registry
    registered: list[str] = []
    with engine.connect() as gating:
        transaction = gating.begin()
        lock_gate(gating)
        client = threading.Thread(
            target=lambda: registered.append(register_client(engine, service="late", mapped=V1_MAPS).service)
        )
        client.start()
        _wait_until_blocked(engine, client)
        assert registered == []  # it cannot slip in beside a gate that has decided
        transaction.commit()
    client.join(timeout=60)
    assert registered == ["late"]


def test_a_migration_session_is_named_before_its_first_statement(create_database: Callable[[], str]) -> None:
    """A contract migration started beside another samples the sessions it sees: the other's must
    never show up nameless (a client), not even between connecting and taking the gate's lock."""
    from orm_models.migrate import _connection  # the seam migrate() connects through

    with _connection(create_database()) as (connection, owned):
        name: str = connection.execute(sa.text("SELECT current_setting('application_name')")).scalar_one()
    assert owned
    assert name == f"{OWN_APPLICATION} migrate"


def test_two_contract_migrations_serialise(expanded: tuple[str, sa.Engine]) -> None:
    url, engine = expanded
    errors: list[BaseException] = []

    def contract() -> None:
        try:
            migrate(url, contract=True)
        except BaseException as error:
            errors.append(error)

    contracts = _pending_contracts(engine)
    threads = [threading.Thread(target=contract) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert _contracted(engine)
    # Each contract applied once.
    assert [(row.action, row.revision) for row in _audit(engine)] == [
        ("contract_applied", c) for c in contracts
    ]


def test_a_database_ahead_of_this_release_is_named(create_database: Callable[[], str]) -> None:
    url = create_database()
    migrate(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    result = _cli("migrate", "--database-url", url)
    assert result.returncode == 1
    assert "the database is at revision 0099, which orm-models" in result.stderr
    assert "Traceback" not in result.stderr
    assert "newer than orm-models" in _cli("status", "--database-url", url).stdout


def test_entries_are_per_service_and_version_with_instances_counted(
    create_database: Callable[[], str],
) -> None:
    url = create_database()
    migrate(url)  # at head: the per-service registry
    engine = _engine(url)
    for instance in ("host-a:1", "host-a:2", "host-b:7"):
        register_client(engine, service="loader", instance=instance, mapped=V1_MAPS, version="1.1.0")
    register_client(engine, service="loader", instance="host-a:3", version="2.4.0")
    register_client(engine, service="api", instance="web-1")
    register_client(engine, service="api", instance="web-1")  # a heartbeat: the same instance
    with engine.connect() as connection:
        entries = {
            (c.service, c.orm_models_version): len(c.instances) for c in registered_clients(connection)
        }
        rows: int = connection.execute(sa.text("SELECT count(*) FROM schema_service")).scalar_one()
    assert entries == {("loader", "1.1.0"): 3, ("loader", "2.4.0"): 1, ("api", orm_models.__version__): 1}
    assert rows == 3

    refused = _cli("status", "--database-url", url)
    assert "3 live of 3" in refused.stdout

    assert forget_client(engine, "loader", instance="host-a:2") == 1
    assert forget_client(engine, "loader", version="1.1.0") == 2
    with engine.connect() as connection:
        assert {(c.service, c.orm_models_version) for c in registered_clients(connection)} == {
            ("loader", "2.4.0"),
            ("api", orm_models.__version__),
        }
    forgot = _cli("clients", "forget", "loader", "--version", "2.4.0", "--database-url", url)
    assert forgot.returncode == 0, forgot.stderr
    assert "forgot loader 2.4.0" in forgot.stdout
    engine.dispose()


def test_old_per_process_rows_are_grouped_per_service_and_version(registry: tuple[str, sa.Engine]) -> None:
    """2.3/2.4 clients (and README's statement) write one row per process: one entry each version."""
    _, engine = registry
    with engine.begin() as connection:
        for instance in ("a", "b", "c"):
            connection.execute(
                sa.text(
                    "INSERT INTO schema_client (service, instance, orm_models_version, maps, writes) "
                    "VALUES ('loader', :i, '2.4.0', :maps, '{}')"
                ),
                {"i": instance, "maps": V1_MAPS},
            )
    with engine.connect() as connection:
        [entry] = registered_clients(connection)
    assert (entry.service, entry.orm_models_version, len(entry.instances)) == ("loader", "2.4.0", 3)


@pytest.mark.parametrize("window", ["inf", "1e400", "1e10d", "0", "0s", "-5m", "nan", "soon", "", "1e-9"])
@pytest.mark.parametrize("command", ["migrate", "status"])
def test_a_live_window_that_is_no_positive_finite_duration_is_one_line_and_exit_2(
    command: str, window: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://nobody@127.0.0.1:9/none"  # never reached: the window is refused first
    extra = ["--contract"] if command == "migrate" else []
    # `=`: argparse takes a separate "-5m" for an option
    assert main([command, *extra, f"--live-window={window}", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"orm-models: --live-window: not a duration: {window!r}")
