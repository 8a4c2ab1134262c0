"""Clients PostgreSQL observes (pg_stat_activity): they block a contract like registered ones.

The gate is asked directly (`blockers_for`) on a database at head, where the observations are
kept: what it would say about a contract that drops `person.given_name`.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from orm_models import migrate, register_client
from orm_models.contract_gate import NOT_REGISTERED, Blocker, blockers_for
from orm_models.status import collect_status
from orm_models.testing.postgres import PostgresUnavailable, embedded_postgres

DROPS = ("person.given_name",)


@pytest.fixture
def database(create_database: Callable[[], str]) -> Iterator[tuple[str, sa.Engine]]:
    url = create_database()
    migrate(url)
    gate = sa.create_engine(url, poolclass=sa.NullPool)  # the gate's own session is never a client
    yield url, gate
    gate.dispose()


def _client(url: str, application_name: str) -> sa.Engine:
    return sa.create_engine(url, connect_args={"application_name": application_name}, poolclass=sa.NullPool)


def _blockers(
    gate: sa.Engine, window: timedelta = timedelta(hours=1), ignore: tuple[str, ...] = ()
) -> list[Blocker]:
    with gate.begin() as connection:
        return blockers_for(connection, DROPS, window, ignore)


def _age(gate: sa.Engine, application_name: str, by: timedelta) -> None:
    """As if the client had last been seen `by` ago."""
    with gate.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE schema_client_observed SET last_seen_at = last_seen_at - :by, touched = "
                "(SELECT jsonb_object_agg(key, to_jsonb((value #>> '{}')::timestamptz - :by)) "
                "FROM jsonb_each(touched)) WHERE application_name = :name"
            ),
            {"by": by, "name": application_name},
        )


def test_an_unregistered_client_that_used_a_dropped_column_blocks_and_is_named(
    database: tuple[str, sa.Engine],
) -> None:
    url, gate = database
    client = _client(url, "monthly-report")
    with client.connect() as session:
        session.execute(sa.text("SELECT given_name FROM person WHERE given_name <> 'last_name'"))
        [blocker] = _blockers(gate)  # sampled while it is connected
    assert (blocker.client.service, blocker.client.orm_models_version) == ("monthly-report", NOT_REGISTERED)
    assert blocker.columns == DROPS
    assert "a statement named person.given_name" in blocker.evidence

    # Gone since: what was seen is kept, so it blocks until it has been away longer than the window.
    [kept] = _blockers(gate)
    assert kept.client.service == "monthly-report"
    _age(gate, "monthly-report", timedelta(hours=2))
    assert _blockers(gate) == []
    assert [b.client.service for b in _blockers(gate, timedelta(hours=3))] == ["monthly-report"]


def test_string_literals_are_not_names(database: tuple[str, sa.Engine]) -> None:
    url, gate = database
    with _client(url, "quoting").connect() as session:
        session.execute(sa.text("SELECT 'person.given_name given_name person' AS text"))
        [blocker] = _blockers(gate)
    assert blocker.evidence == "not registered; what it uses was not seen (idle when sampled)"


def test_an_idle_unregistered_client_blocks_unless_vouched_for(database: tuple[str, sa.Engine]) -> None:
    url, gate = database
    with _client(url, "cron-export").connect() as session:
        session.execute(sa.text("SELECT 1"))
        [blocker] = _blockers(gate)
        assert blocker.client.service == "cron-export"
        assert blocker.client.instance.endswith("@local")  # role@address (a Unix socket)
        assert _blockers(gate, ignore=("cron-export",)) == []


def test_a_registered_client_is_judged_by_what_it_maps(database: tuple[str, sa.Engine]) -> None:
    url, gate = database
    client = _client(url, "api-service")
    register_client(client, service="api-service", mapped=["person.family_name"])
    with client.connect() as session:
        session.execute(sa.text("SELECT 1"))
        assert _blockers(gate) == []  # its registration accounts for it and does not map the drop
        session.execute(sa.text("SELECT given_name FROM person"))
        [blocker] = _blockers(gate)  # but it was seen using the column: evidence wins
    assert (blocker.client.service, blocker.client.orm_models_version) != ("api-service", NOT_REGISTERED)
    assert blocker.client.service == "api-service"


def test_status_flags_a_client_that_does_not_register(database: tuple[str, sa.Engine]) -> None:
    url, gate = database
    with _client(url, "legacy-loader").connect() as session:
        session.execute(sa.text("SELECT 1"))
        with gate.begin() as connection:
            status = collect_status(connection)
    assert [o.name for o in status.unregistered] == ["legacy-loader"]


@pytest.fixture(scope="module")
def statements_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL with pg_stat_statements preloaded: the machine's binaries (pgserver's wheel
    does not ship the extension). Skipped, and shown as skipped, where there are none."""
    try:
        server = embedded_postgres(
            tmp_path_factory.mktemp("statements") / "data",
            settings={"shared_preload_libraries": "pg_stat_statements"},
        )
        server.start()
    except PostgresUnavailable as error:
        pytest.skip(f"no PostgreSQL with pg_stat_statements here: {str(error).splitlines()[0]}")
    try:
        yield server.url
    finally:
        server.stop()


def test_what_a_role_ran_blocks_through_pg_stat_statements(statements_server: str) -> None:
    """The client is gone before anything samples it: only pg_stat_statements saw what it ran."""
    admin = sa.create_engine(statements_server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE DATABASE statements_gate"))
    admin.dispose()
    url = sa.make_url(statements_server).set(database="statements_gate").render_as_string(hide_password=False)
    migrate(url)
    gate = sa.create_engine(url, poolclass=sa.NullPool)
    with gate.begin() as connection:
        connection.execute(sa.text("CREATE EXTENSION pg_stat_statements"))
    client = _client(url, "monthly-job")

    def run_once() -> None:
        with client.connect() as session:
            session.execute(sa.text("SELECT given_name FROM person"))

    run_once()
    [blocker] = _blockers(gate)  # the first sighting counts as now (PostgreSQL < 17 says no when)
    assert blocker.client.service.startswith("(any client of role ")
    assert "(pg_stat_statements)" in blocker.evidence
    assert blocker.columns == DROPS

    _age(gate, "", timedelta(hours=2))  # as if that was two hours ago
    assert _blockers(gate) == []  # its count did not move since: no new evidence
    run_once()
    assert [b.client.service for b in _blockers(gate)] == [blocker.client.service]  # it ran again
    gate.dispose()
