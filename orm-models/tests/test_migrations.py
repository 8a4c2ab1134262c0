"""The packaged migrations: two branches, up and down, and exactly the schema the models describe.

No test names a head: heads come from the tree (`branch_heads`, ScriptDirectory) so a correct new
revision breaks none of them. Released revision ids (0001..0004) are history and never change.
"""

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from released import FIRST_CONTRACT, LAST_1X_HEAD, release_head
from sqlalchemy.orm import Session

import orm_models
from orm_models import Base, Person, alembic_config, current_revision, head_revision, migrate, registry
from orm_models.migrate import branch_heads, current_heads, downgrade
from orm_models.migrations import name_bridge
from orm_models.version_state import not_a_version_table, reduce_heads

pytestmark = pytest.mark.release  # what `nox -s release` re-runs before publishing


def _tree_heads() -> frozenset[str]:
    """What a database that ran every revision records: the tree's heads minus any another one
    needs (a contract that `depends_on` the expand head leaves Alembic recording the contract alone)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return reduce_heads(frozenset(scripts.get_heads()), scripts)


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_one_head_per_branch() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    heads = branch_heads()
    assert set(heads) == {"expand", "contract"}
    assert frozenset(heads.values()) == frozenset(scripts.get_heads())
    assert heads["expand"] == head_revision()
    for label, head in heads.items():  # the branch labels name the same heads
        assert scripts.get_revision(f"{label}@head").revision == head


def test_an_expand_revision_never_needs_a_contract_one() -> None:
    """What lets a database that holds contracts back still receive every later expand."""
    scripts = ScriptDirectory.from_config(alembic_config())
    contracts = {s.revision for s in scripts.walk_revisions() if s.module.phase == "contract"}
    for script in scripts.walk_revisions():
        if script.module.phase == "expand":
            needs = {s.revision for s in scripts.iterate_revisions(script.revision, "base")}
            assert not needs & contracts, script.revision


def test_every_revision_declares_its_phase() -> None:
    for script in ScriptDirectory.from_config(alembic_config()).walk_revisions():
        assert getattr(script.module, "phase", None) in {"expand", "contract"}, script.revision


def test_upgrade_from_empty_then_downgrade_to_base(create_database: Any) -> None:
    url = create_database()
    assert _tables(url) == set()

    migrate(url)
    assert _tables(url) == {
        "alembic_heads",
        "alembic_version",
        *(table.name for table in Base.metadata.sorted_tables),  # the models' tables, a new one too
        *(table.name for table in registry.metadata.sorted_tables),
    }
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert current_heads(connection) == _tree_heads()

    downgrade(url, "base")
    assert _tables(url) == {"alembic_heads", "alembic_version"}
    with engine.connect() as connection:
        assert current_revision(connection) is None
    engine.dispose()


def test_models_equal_migrated_schema(migrated_engine: sa.Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True, "include_name": not_a_version_table},
        )
        assert compare_metadata(context, _models_and_registry()) == []


def _models_and_registry() -> sa.MetaData:
    """The models' tables and the client registry's (tooling tables, kept out of `Base.metadata`)."""
    combined = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in [*Base.metadata.sorted_tables, *registry.metadata.sorted_tables]:
        table.to_metadata(combined)
    return combined


def test_rename_history_keeps_data_across_releases(create_database: Any) -> None:
    """1.0.0 writes last_name; 1.1.0 backfills family_name; 2.0.0 drops last_name; and back."""
    url = create_database()
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would count it
    migrate(url, release_head("1.0.0"))
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO person (external_id, given_name, last_name) VALUES ('p1', 'Ada', 'Lovelace')"
            )
        )
    migrate(url, LAST_1X_HEAD)
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT last_name, family_name FROM person")).one()
    assert tuple(row) == ("Lovelace", "Lovelace")

    migrate(url, FIRST_CONTRACT, contract=True)
    columns = {column["name"] for column in sa.inspect(engine).get_columns("person")}
    assert "last_name" not in columns
    assert "family_name" in columns

    downgrade(url, LAST_1X_HEAD)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT last_name FROM person")).scalar_one() == "Lovelace"
    engine.dispose()


def test_migrations_run_from_the_installed_package(create_database: Any) -> None:
    """The suite runs against the installed wheel: the revisions must have shipped inside it."""
    package_dir = Path(orm_models.__file__).parent
    assert "site-packages" in package_dir.parts, f"tests must run on an installed wheel, not {package_dir}"
    shipped = sorted(path.name for path in (package_dir / "migrations" / "versions").glob("rev_*.py"))
    assert len(shipped) >= 3
    assert (package_dir / "migrations" / "script.py.mako").is_file()

    url = create_database()
    migrate(url)
    assert {"organization", "person"} <= _tables(url)


def test_migrate_holds_back_a_contract_revision_until_asked(create_database: Any) -> None:
    """A database on 1.1 (0002) has 1.x clients: the contract drop waits for contract=True."""
    url = create_database()
    assert migrate(url, LAST_1X_HEAD) is None
    engine = sa.create_engine(url)

    assert migrate(url) == FIRST_CONTRACT
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()  # every expand revision ran
        assert branch_heads()["contract"] not in current_heads(connection)
    assert "last_name" in {column["name"] for column in sa.inspect(engine).get_columns("person")}

    engine.dispose()  # an idle session of this test would be a live client the gate cannot place
    assert migrate(url, contract=True) is None
    with engine.connect() as connection:
        assert current_heads(connection) == _tree_heads()
    engine.dispose()


def test_expand_revisions_before_a_contract_still_run(create_database: Any) -> None:
    url = create_database()
    migrate(url, release_head("1.0.0"))
    assert migrate(url) == FIRST_CONTRACT  # every expand revision applied, 0003 (contract) held back
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
    engine.dispose()


def test_a_never_migrated_database_gets_every_revision(create_database: Any) -> None:
    url = create_database()
    assert migrate(url) is None
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert current_heads(connection) == _tree_heads()
    engine.dispose()


def _insert_as_1_0(engine: sa.Engine, external_id: str, last_name: str) -> None:
    """What a 1.0 writer sends: `last_name`, and no `family_name` (it does not know the column)."""
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO person (external_id, given_name, last_name) VALUES (:id, 'Given', :last)"),
            {"id": external_id, "last": last_name},
        )


def _names(connection: sa.Connection, external_id: str) -> tuple[str | None, str | None]:
    row = connection.execute(
        sa.text("SELECT last_name, family_name FROM person WHERE external_id = :id"), {"id": external_id}
    ).one()
    return row.last_name, row.family_name


def test_a_database_in_the_expand_state_takes_writes_from_every_release(create_database: Any) -> None:
    """Contract held back (1.x clients live): 2.x and 1.0 writers both work, each sees the other's."""
    url = create_database()
    migrate(url, LAST_1X_HEAD)  # a database 1.1.0 clients use
    engine = sa.create_engine(url)
    _insert_as_1_0(engine, "early", "Babbage")  # after 0002's backfill, before any bridge
    assert migrate(url) == FIRST_CONTRACT  # this release's routine migrate: contract held back

    with Session(engine) as session:  # a 2.x writer: the models have no last_name
        session.add_all(
            [
                Person(external_id="new", given_name="Grace", family_name="Hopper"),
                Person(external_id="mono", given_name="Plato", family_name=None),
            ]
        )
        session.commit()
    _insert_as_1_0(engine, "old", "Lovelace")
    _insert_as_1_0(engine, "old-mono", "")  # how 1.x stores a mononym
    with engine.connect() as connection:
        assert _names(connection, "early") == ("Babbage", "Babbage")  # backfilled by 0002b
        assert _names(connection, "new") == ("Hopper", "Hopper")
        assert _names(connection, "mono") == ("", None)  # 1.x maps last_name NOT NULL
        assert _names(connection, "old") == ("Lovelace", "Lovelace")
        assert _names(connection, "old-mono") == ("", None)

    with Session(engine) as session:  # each release's update reaches the other's column
        session.execute(sa.update(Person).where(Person.external_id == "old").values(family_name="King"))
        session.commit()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE person SET last_name = 'Brewster' WHERE external_id = 'new'"))
    with engine.connect() as connection:
        assert _names(connection, "old") == ("King", "King")
        assert _names(connection, "new") == ("Brewster", "Brewster")

    engine.dispose()  # the 1.x writers are gone: their sessions closed (an open one would block)
    assert migrate(url, contract=True) is None  # once 1.x is gone: no column, no trigger
    with engine.connect() as connection:
        # The bridge's trigger, by name: a later expand revision (a rename's sync) may add its own.
        bridge = sa.text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname = :name")
        assert connection.execute(bridge, {"name": name_bridge.TRIGGER}).scalar_one() == 0
    with Session(engine) as session:
        session.add(Person(external_id="after", given_name="Alan", family_name="Turing"))
        session.commit()
        assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 6
    engine.dispose()


def test_downgrading_the_contract_restores_the_bridge(create_database: Any) -> None:
    url = create_database()
    migrate(url, contract=True)
    downgrade(url, "0002c")
    engine = sa.create_engine(url)
    # 2.x writers work again on the expand-state schema. What a 2.x writer sends, as SQL: the
    # tree's models may map columns a later expand revision adds, which 0002c's schema lacks.
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO person (external_id, given_name, family_name) VALUES ('new', 'Grace', 'Hopper')"
            )
        )
    _insert_as_1_0(engine, "old-mono", "")
    with engine.connect() as connection:
        assert _names(connection, "new") == ("Hopper", "Hopper")
        assert _names(connection, "old-mono") == ("", None)  # 0002c's function, not 0002a's
    assert "schema_client" in _tables(url)  # the registry is 0002c's: it stays

    downgrade(url, LAST_1X_HEAD)  # 1.1.0's schema: no bridge at all
    with engine.connect() as connection:
        triggers = connection.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"))
        assert triggers.scalar_one() == 0
        functions = connection.execute(sa.text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'person_%'"))
        assert functions.scalar_one() == 0
    engine.dispose()
