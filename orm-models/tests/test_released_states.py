"""Every database state a released orm-models can leave behind upgrades cleanly in the two-branch tree.

Releases 1.0.0-2.4.0 shipped one chain (`version_state.LINEAR_CHAIN`) and recorded one row in
`alembic_version`: any revision of that chain, 0003 and 0004 meaning the contract ran. Each state
is built with this tree's revisions (their DDL is the released DDL), then its version tables are
put back the way a release left them: `alembic_version` only, holding the chain's id.
"""

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from released import FIRST_CONTRACT

from orm_models import Base, alembic_config, current_revision, head_revision, migrate, registry
from orm_models.migrate import DatabaseAheadError, current_heads
from orm_models.version_state import (
    LEGACY_TABLE,
    LINEAR_CHAIN,
    VERSION_TABLE,
    ancestors,
    legacy_heads,
    not_a_version_table,
    reduce_heads,
)

_CONTRACT = FIRST_CONTRACT  # the released chain's contract revision


def _tree_heads() -> frozenset[str]:
    """What a database that ran every revision records: the tree's heads minus any another one
    needs (a contract that `depends_on` the expand head leaves Alembic recording the contract alone)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return reduce_heads(frozenset(scripts.get_heads()), scripts)


def _left_by_a_release(url: str, chain_revision: str) -> None:
    """The database as a release up to 2.4 left it at `chain_revision` of its linear chain."""
    for target in sorted(legacy_heads(chain_revision)):
        migrate(url, target, contract=True)
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would see a client
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        connection.execute(sa.text(f"UPDATE {LEGACY_TABLE} SET version_num = :v"), {"v": chain_revision})
    engine.dispose()


def _columns(engine: sa.Engine) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns("person")}


def _models_match(connection: sa.Connection) -> None:
    combined = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in [*Base.metadata.sorted_tables, *registry.metadata.sorted_tables]:
        table.to_metadata(combined)
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True, "include_name": not_a_version_table},
    )
    assert compare_metadata(context, combined) == []


def _old_readers_see_one_row(connection: sa.Connection) -> str | None:
    """What releases up to 2.4 read (`get_current_revision` raises on two rows)."""
    return MigrationContext.configure(connection).get_current_revision()


@pytest.mark.parametrize("left_at", [None, *LINEAR_CHAIN], ids=lambda r: f"left_at_{r or 'fresh'}")
def test_a_database_any_release_left_upgrades_cleanly(
    create_database: Callable[[], str], left_at: str | None
) -> None:
    url = create_database()
    if left_at is not None:
        _left_by_a_release(url, left_at)
    contracted = left_at is not None and _CONTRACT in legacy_heads(left_at)
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would see a client
    if left_at is not None:  # a person written by that release's clients
        column = "family_name" if contracted else "last_name"
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    f"INSERT INTO person (external_id, given_name, {column}) VALUES ('p1', 'Ada', 'Lovelace')"
                )
            )

    held = migrate(url)  # the routine migrate: every expand revision, no contract
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        # The released contract ran where that release ran it (or, fresh, everything ran); a
        # later, unreleased contract is held back either way.
        applied = ancestors(current_heads(connection), ScriptDirectory.from_config(alembic_config()))
        assert (_CONTRACT in applied) == (contracted or left_at is None)
        assert _old_readers_see_one_row(connection) is not None
    assert ("last_name" in _columns(engine)) == (left_at is not None and not contracted)
    if left_at is not None and not contracted:
        assert held == _CONTRACT

    # That release's clients stop before the contract, as an operator stops them: the gate would
    # count this engine's pooled session, still connected and seen writing last_name, as live.
    engine.dispose()
    assert migrate(url, contract=True) is None
    with engine.connect() as connection:
        assert current_heads(connection) == _tree_heads()
        assert _old_readers_see_one_row(connection) is not None
        _models_match(connection)
        if left_at is not None:
            family = connection.execute(sa.text("SELECT family_name FROM person WHERE external_id = 'p1'"))
            assert family.scalar_one() == "Lovelace"
    assert migrate(url, contract=True) is None  # nothing left to do, and doing nothing works
    engine.dispose()


def test_a_contract_an_old_release_ran_after_a_new_one_is_not_run_twice(
    create_database: Callable[[], str],
) -> None:
    """2.4.0's `migrate --contract` on a database this tree expanded moves only alembic_version."""
    url = create_database()
    _left_by_a_release(url, "0002c")
    assert migrate(url) == _CONTRACT
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would see a client
    with engine.begin() as connection:  # what 2.4.0 does from '0002c': 0003 then 0004, in its chain
        connection.execute(sa.text("ALTER TABLE person DROP COLUMN last_name CASCADE"))
        connection.execute(sa.text(f"UPDATE {LEGACY_TABLE} SET version_num = '0004'"))
    with engine.connect() as connection:
        assert _CONTRACT in current_heads(connection)
    assert migrate(url, contract=True) is None  # 0003 again would fail: last_name is gone
    with engine.connect() as connection:
        assert current_heads(connection) == _tree_heads()
    engine.dispose()


def test_a_database_only_a_newer_release_knows_is_refused(create_database: Callable[[], str]) -> None:
    url = create_database()
    migrate(url)
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would see a client
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {VERSION_TABLE} VALUES ('9999')"))
    with pytest.raises(DatabaseAheadError, match="9999"):
        migrate(url)
    engine.dispose()
