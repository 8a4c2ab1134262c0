"""The bulk path: which path runs and why, what a swap keeps, and that it equals the merge's result."""

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import people, person_rows, write_csv
from pydantic import SecretStr

from loader_service.config import Settings
from loader_service.errors import DatabaseError
from loader_service.report import Summary
from loader_service.run import RunOptions, run_load
from orm_models import Base, Person, migrate, registry

# Everything attached to `person` that a swap must give back, as the catalog has it.
_CATALOG = {
    "columns": """
        SELECT column_name, data_type, character_maximum_length, is_nullable, column_default,
               is_identity, identity_generation
        FROM information_schema.columns WHERE table_name = 'person' ORDER BY column_name""",
    "constraints": """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'person'::regclass ORDER BY conname""",
    "incoming": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE confrelid = 'person'::regclass ORDER BY conname""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'person' ORDER BY indexname",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid = 'person'::regclass AND NOT tgisinternal ORDER BY tgname""",
    "sequence": """
        SELECT pg_get_serial_sequence('person', 'id'), s.seqincrement, s.seqcache, c.relacl::text
        FROM pg_sequence AS s JOIN pg_class AS c ON c.oid = s.seqrelid
        WHERE s.seqrelid = pg_get_serial_sequence('person', 'id')::regclass""",
    "table": """
        SELECT relname, pg_get_userbyid(relowner), relacl::text, obj_description(oid, 'pg_class'), reloptions
        FROM pg_class WHERE oid = 'person'::regclass""",
}


def catalog(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(sa.text(query))]
            for name, query in _CATALOG.items()
        }


def _not_alembics(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's own bookkeeping (`alembic_version`, and `alembic_heads` from orm-models 2.5) is no
    schema of the models'."""
    return not (type_ == "table" and (name or "").startswith("alembic_"))


def models_drift(engine: sa.Engine) -> list[Any]:
    """What `check`'s comparison (Alembic's, as orm-models' own test runs it) finds: models vs database."""
    combined = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in [*Base.metadata.sorted_tables, *registry.metadata.sorted_tables]:
        table.to_metadata(combined)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True, "include_name": _not_alembics},
        )
        return list(compare_metadata(context, combined))


@pytest.fixture
def fresh(create_database: Callable[[], str]) -> Iterator[tuple[Settings, sa.Engine]]:
    """A database of its own, migrated: these tests change grants and add objects."""
    url = create_database()
    migrate(url)
    engine = sa.create_engine(url)
    yield Settings(database_url=SecretStr(url)), engine
    engine.dispose()


def _path(caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    [line] = [record.getMessage() for record in caplog.records if "event=load_path" in record.getMessage()]
    caplog.clear()
    path = line.split("path=", 1)[1].split(" ", 1)[0]
    return path, line.split("reason=", 1)[1]


def test_a_first_load_takes_the_bulk_path_and_leaves_the_migrated_schema(
    fresh: tuple[Settings, sa.Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, engine = fresh
    reader = f"loader_test_reader_{uuid.uuid4().hex[:8]}"
    assert models_drift(engine) == []
    with engine.begin() as connection:  # grants and a comment the swap must carry over
        connection.execute(sa.text(f"CREATE ROLE {reader}"))
        connection.execute(sa.text(f"GRANT SELECT ON person TO {reader}"))
        connection.execute(sa.text(f"GRANT USAGE ON SEQUENCE person_id_seq TO {reader}"))
        connection.execute(sa.text("COMMENT ON TABLE person IS 'people, loaded nightly'"))
    before = catalog(engine)
    caplog.set_level(logging.INFO, logger="loader_service")

    summary = run_load(settings, RunOptions(str(write_csv(tmp_path / "p.csv", person_rows(500)))))

    assert _path(caplog) == ("bulk", '"person is empty: a first load"')
    assert (summary.inserted, summary.updated, summary.deleted) == (500, 0, 0)
    assert catalog(engine) == before
    with engine.begin() as connection:
        connection.execute(sa.text("COMMENT ON TABLE person IS NULL"))
    assert models_drift(engine) == []
    # The identity sequence carried on: the next id is past every loaded one.
    with engine.begin() as connection:
        new_id = connection.execute(
            sa.insert(Person).values(external_id="x-1", given_name="Ada").returning(Person.id)
        ).scalar_one()
        assert (
            new_id
            > connection.execute(
                sa.text("SELECT max(id) FROM person WHERE external_id <> 'x-1'")
            ).scalar_one()
        )
        connection.execute(sa.text(f"DROP OWNED BY {reader}"))
        connection.execute(sa.text(f"DROP ROLE {reader}"))
    # The next run's start-up guard and registration are green on the swapped table.
    assert run_load(settings, RunOptions(str(tmp_path / "p.csv"), max_delete="100%")).deleted == 1


@pytest.mark.parametrize("increment", [1, 3])
def test_a_first_loads_ids_come_from_the_sequence_and_it_moves_past_them(
    fresh: tuple[Settings, sa.Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture, increment: int
) -> None:
    """Ids taken before (a truncated table) are never handed out again, rejects and duplicates
    included; the sequence goes on after the load. Increment 1: a range reserved at once, each
    person at its record's place in it; any other increment: a nextval per person."""
    settings, engine = fresh
    with engine.begin() as connection:
        connection.execute(sa.text(f"ALTER SEQUENCE person_id_seq INCREMENT BY {increment}"))
        connection.execute(sa.text("SELECT setval('person_id_seq', 41)"))  # ids 1..41 were used once
    rows = person_rows(8)
    rows[2]["givenName"] = ""  # record 3: rejected
    rows[5]["id"] = rows[0]["id"]  # record 6: a duplicate of record 1 (the build then runs again)
    caplog.set_level(logging.INFO, logger="loader_service")

    summary = run_load(settings, RunOptions(str(write_csv(tmp_path / "p.csv", rows)), max_errors=2))

    assert _path(caplog)[0] == "bulk"
    assert (summary.inserted, summary.rejected) == (6, 2)
    ids = {key: person["id"] for key, person in people(engine).items()}
    record = {row["id"]: number for number, row in enumerate(rows, start=1) if number not in (3, 6)}
    assert set(ids) == set(record)
    assert min(ids.values()) > 41
    if increment == 1:  # the range's start plus the record number, for every person
        assert len({ids[key] - record[key] for key in ids}) == 1
    else:
        assert len(set(ids.values())) == 6
        assert {(i - ids["p-00000"]) % increment for i in ids.values()} == {0}
    with engine.begin() as connection:
        new_id = connection.execute(
            sa.insert(Person).values(external_id="x-1", given_name="Ada").returning(Person.id)
        ).scalar_one()
    assert new_id > max(ids.values())


def test_the_paths_agree_and_each_is_chosen_by_the_share_changed(
    fresh: tuple[Settings, sa.Engine], database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same three syncs by the chosen paths and by the merge alone end in the same people, same ids."""
    bulk_settings, bulk_engine = fresh
    merge_settings = Settings(database_url=SecretStr(database_url))
    merge_engine = sa.create_engine(database_url)
    caplog.set_level(logging.INFO, logger="loader_service")
    first = person_rows(300)
    few = [dict(row) for row in first]
    few[5]["familyName"] = "Changed"
    most = person_rows(250, start=50, variant="-v2") + person_rows(40, start=1000)  # 50 gone, 40 new
    most[0]["org"] = "org-new"
    sources = [write_csv(tmp_path / f"{n}.csv", rows) for n, rows in enumerate([first, few, most])]

    paths, outcomes = [], []
    for source in sources:
        ids_before = {key: row["id"] for key, row in people(bulk_engine).items()}
        chosen = run_load(bulk_settings, RunOptions(str(source), max_delete="100%"))
        paths.append(_path(caplog)[0])
        merged = run_load(merge_settings, RunOptions(str(source), max_delete="100%", load_path="merge"))
        caplog.clear()
        outcomes.append((chosen, merged))
        assert (chosen.inserted, chosen.updated, chosen.deleted) == (
            merged.inserted,
            merged.updated,
            merged.deleted,
        )
        assert (chosen.organizations_inserted, chosen.organizations_updated) == (
            merged.organizations_inserted,
            merged.organizations_updated,
        )
        after = people(bulk_engine)
        assert _values(after) == _values(people(merge_engine))
        # Kept people keep their ids; new ones get fresh ids past every earlier one.
        assert {key: after[key]["id"] for key in ids_before if key in after} == {
            key: ids_before[key] for key in ids_before if key in after
        }
        new_ids = [row["id"] for key, row in after.items() if key not in ids_before]
        assert len(set(new_ids)) == len(new_ids) == chosen.inserted
        assert min(new_ids, default=max(ids_before.values(), default=0) + 1) > max(
            ids_before.values(), default=0
        )

    assert paths == ["bulk", "merge", "bulk"]
    assert (outcomes[2][0].inserted, outcomes[2][0].updated, outcomes[2][0].deleted) == (40, 250, 50)
    merge_engine.dispose()


def _values(found: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Each person's values; not the timestamps (the databases loaded at other moments) nor the id
    (each database numbers its new people in its own scan order; ids are checked apart)."""
    return {
        key: tuple(v for k, v in row.items() if k not in ("updated_at", "id")) for key, row in found.items()
    }


def test_kept_people_keep_their_ids_and_the_columns_the_loader_does_not_write(
    fresh: tuple[Settings, sa.Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, engine = fresh
    with engine.begin() as connection:  # what a later expand release may add: the swap keeps both working
        connection.execute(
            sa.text(
                "ALTER TABLE person ADD COLUMN nickname text,"
                " ADD COLUMN name_length int GENERATED ALWAYS AS (length(given_name)) STORED"
            )
        )
    run_load(settings, RunOptions(str(write_csv(tmp_path / "a.csv", person_rows(100)))))
    before = people(engine)
    with engine.begin() as connection:  # columns the loader does not write: kept through the swap
        connection.execute(
            sa.text(
                "UPDATE person SET created_at = '2001-01-01', nickname = 'Seven'"
                " WHERE external_id = 'p-00007'"
            )
        )
    changed = person_rows(100, variant="-b")
    changed[7]["givenName"] = "Septima"
    caplog.set_level(logging.INFO, logger="loader_service")
    summary = run_load(settings, RunOptions(str(write_csv(tmp_path / "b.csv", changed)), load_path="bulk"))
    after = people(engine)

    assert _path(caplog) == ("bulk", '"asked for (--path bulk)"')
    assert summary.updated == 100
    assert {key: row["id"] for key, row in after.items()} == {key: row["id"] for key, row in before.items()}
    assert all(after[key]["updated_at"] > before[key]["updated_at"] for key in before)
    with engine.connect() as connection:
        kept = connection.execute(
            sa.text("SELECT created_at, nickname, name_length FROM person WHERE external_id = 'p-00007'")
        ).one()
    assert (str(kept.created_at)[:10], kept.nickname, kept.name_length) == ("2001-01-01", "Seven", 7)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            "CREATE TABLE badge (id int PRIMARY KEY, person_id int REFERENCES person (id) ON DELETE CASCADE)",
            "foreign key(s) badge.badge_person_id_fkey from other tables",
        ),
        ("CREATE VIEW person_names AS SELECT given_name FROM person", "view(s) or rule(s) person_names"),
        (
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
            " CREATE TRIGGER touch BEFORE INSERT ON person FOR EACH ROW EXECUTE FUNCTION touch()",
            "trigger(s) touch",
        ),
    ],
    ids=["foreign_key_into_person", "view", "trigger"],
)
def test_what_a_swap_cannot_carry_sends_the_run_down_the_merge_path(
    setup: str,
    reason: str,
    fresh: tuple[Settings, sa.Engine],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, engine = fresh
    with engine.begin() as connection:
        connection.execute(sa.text(setup))
    before = catalog(engine)
    caplog.set_level(logging.INFO, logger="loader_service")

    summary = run_load(
        settings, RunOptions(str(write_csv(tmp_path / "p.csv", person_rows(20))), load_path="bulk")
    )

    path, why = _path(caplog)
    assert (path, summary.inserted) == ("merge", 20)
    assert reason in why
    assert catalog(engine) == before


def test_a_database_still_holding_last_name_is_loaded_by_the_merge(
    create_database: Callable[[], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The name bridge is a trigger: a swap would not fire it as the merge's writes do."""
    url = create_database()
    migrate(url, "0002")  # what 1.1.0 clients run on; the routine migrate then holds the contract back
    migrate(url)
    caplog.set_level(logging.INFO, logger="loader_service")
    run_load(
        Settings(database_url=SecretStr(url)), RunOptions(str(write_csv(tmp_path / "p.csv", person_rows(5))))
    )
    path, why = _path(caplog)
    assert path == "merge"
    assert "person_bridge_last_name" in why


def test_the_swap_steps_back_for_a_long_reader_so_new_readers_never_queue(
    fresh: tuple[Settings, sa.Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, engine = fresh
    run_load(settings, RunOptions(str(write_csv(tmp_path / "a.csv", person_rows(50)))))
    long_reader = engine.connect()
    long_reader.execute(sa.text("SELECT count(*) FROM person")).scalar_one()  # holds ACCESS SHARE to its end
    caplog.set_level(logging.INFO, logger="loader_service")
    settings = settings.model_copy(update={"swap_lock_timeout": 0.05, "merge_lock_timeout": 60.0})
    outcome: list[Summary] = []
    loader = threading.Thread(
        target=lambda: outcome.append(
            run_load(
                settings,
                RunOptions(
                    str(write_csv(tmp_path / "b.csv", person_rows(50, variant="-b"))), load_path="bulk"
                ),
            )
        )
    )
    loader.start()
    try:
        _wait_for(
            lambda: any("swap_lock_busy" in r.getMessage() for r in caplog.records) or not loader.is_alive()
        )
        # A new reader gets in while the loader waits: it is never queued behind the swap's lock.
        # (If it were, it would wait for the long reader, which ends only after this query.)
        with engine.connect() as reader:
            reader.execute(sa.text("SET lock_timeout = '20s'"))
            assert reader.execute(sa.text("SELECT count(*) FROM person")).scalar_one() == 50
            oldest: str = reader.execute(sa.text("SELECT min(family_name) FROM person")).scalar_one()
            assert oldest.endswith("0")  # still the first load's names: the swap has not happened
    finally:
        long_reader.rollback()
        long_reader.close()
        loader.join(timeout=120)
    [summary] = outcome
    assert summary.updated == 50


def test_a_reader_that_never_lets_go_fails_the_run_and_changes_nothing(
    fresh: tuple[Settings, sa.Engine], tmp_path: Path
) -> None:
    settings, engine = fresh
    run_load(settings, RunOptions(str(write_csv(tmp_path / "a.csv", person_rows(30)))))
    before = people(engine)
    settings = settings.model_copy(update={"swap_lock_timeout": 0.05, "merge_lock_timeout": 0.5})
    with engine.connect() as long_reader:
        long_reader.execute(sa.text("SELECT count(*) FROM person")).scalar_one()
        with pytest.raises(DatabaseError, match=r"swap failed, nothing was changed: person stayed busy"):
            run_load(
                settings,
                RunOptions(
                    str(write_csv(tmp_path / "b.csv", person_rows(30, variant="-b"))), load_path="bulk"
                ),
            )
        long_reader.rollback()
    assert people(engine) == before


def _wait_for(condition: Callable[[], bool]) -> None:
    import time

    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
