"""Blind tests of issue 20 (the bulk path), written from what the README and docstrings promise.

Ids from person's identity sequence (never one handed out before, the sequence past them after),
ids kept by a bulk sync, a concurrent writer, readers during the swap, the reading edge cases
(multi-line, over-long records, BOM, blank lines, latin-1), the error budget and SIGKILL.
"""

import codecs
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import HEADER, fingerprint, people, person_rows, write_csv, write_jsonl
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from loader_service.config import Settings
from loader_service.errors import LoaderError
from loader_service.report import Summary
from loader_service.run import RunOptions, run_load
from orm_models.people import Person

# --- helpers ---------------------------------------------------------------------------------


def load(settings: Settings, source: Path, tmp_path: Path, **options: Any) -> Summary:
    return run_load(settings, RunOptions(source=str(source), rejects=tmp_path / "rejects.jsonl", **options))


def rejects(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "rejects.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def reasons(reject: dict[str, Any]) -> str:
    return "; ".join(f"{error['field']}: {error['reason']}" for error in reject["errors"])


def sequence(connection: Connection) -> str:
    return str(connection.execute(text("SELECT pg_get_serial_sequence('person', 'id')")).scalar_one())


def sequence_state(engine: Engine) -> tuple[int, bool, int]:
    """(last_value, is_called, increment) of person's identity sequence, whichever table holds it now."""
    with engine.connect() as connection:
        name = sequence(connection)
        state = connection.execute(text(f"SELECT last_value, is_called FROM {name}")).one()
        increment: int = connection.execute(
            text("SELECT seqincrement FROM pg_sequence WHERE seqrelid = CAST(:name AS regclass)"),
            {"name": name},
        ).scalar_one()
    return int(state[0]), bool(state[1]), increment


def orm_insert(engine: Engine, key: str) -> int:
    """A person inserted the way a service does: through the ORM, id from the database."""
    with Session(engine) as session:
        person = Person(external_id=key, given_name="Orm")
        session.add(person)
        session.commit()
        return person.id


def advance_and_empty(engine: Engine, handed_out: int) -> None:
    """The sequence has handed out ids up to `handed_out`; the table is then emptied, sequence kept."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO person (external_id, given_name)"
                " SELECT 'old-' || n, 'Old' FROM generate_series(1, 5) n"
            )
        )
        connection.execute(text(f"SELECT setval('{sequence(connection)}', :value)"), {"value": handed_out})
        connection.execute(text("TRUNCATE person"))  # no RESTART IDENTITY


def relations(engine: Engine) -> set[str]:
    """Every table, index and sequence outside the system schemas and the loader's own bookkeeping."""
    with engine.connect() as connection:
        return set(
            connection.execute(
                text(
                    """
                    SELECT n.nspname || '.' || c.relname FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'loader_service')
                      AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
                    """
                )
            ).scalars()
        )


def leftovers(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT relname FROM pg_class WHERE relname LIKE 'loader_next%'")
            ).scalars()
        )


def organizations(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT external_id, name FROM organization ORDER BY external_id"))
        return [(row[0], row[1]) for row in rows]


def ids(engine: Engine) -> dict[str, int]:
    return {key: int(row["id"]) for key, row in people(engine).items()}


def assert_distinct_ids(engine: Engine) -> None:
    with engine.connect() as connection:
        total, distinct = connection.execute(text("SELECT count(*), count(DISTINCT id) FROM person")).one()
    assert total == distinct


def path_events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if "event=load_path" in record.getMessage()]


@pytest.fixture
def engine(migrated_engine: Engine, database_url: str) -> Engine:
    """The emptied, migrated database (`database_url` empties it)."""
    return migrated_engine


# --- ids on a first load ---------------------------------------------------------------------


def test_first_load_takes_ids_from_the_sequence_past_every_id_handed_out(
    settings: Settings, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loader_service")
    advance_and_empty(engine, 1000)
    with engine.begin() as connection:  # another session holds cached values 1001..1020: handed out too
        connection.execute(text("ALTER TABLE person ALTER COLUMN id SET CACHE 20"))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
            other.execute(text("INSERT INTO person (external_id, given_name) VALUES ('cached', 'C')"))
            other.execute(text("DELETE FROM person"))
            summary = load(settings, write_csv(tmp_path / "people.csv", person_rows(200)), tmp_path)
            cached_after: int = other.execute(
                text("INSERT INTO person (external_id, given_name) VALUES ('cached-2', 'C') RETURNING id")
            ).scalar_one()
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE person ALTER COLUMN id SET CACHE 1"))

    assert (summary.inserted, summary.rejected) == (200, 0)
    assert any("path=bulk" in line for line in path_events(caplog)), path_events(caplog)
    loaded = {key: value for key, value in ids(engine).items() if key.startswith("p-")}
    assert len(loaded) == 200
    assert len(set(loaded.values())) == 200
    assert min(loaded.values()) > 1020, "an id the sequence had already handed out was reused"
    assert cached_after not in loaded.values()
    last, called, _ = sequence_state(engine)
    assert called
    assert last >= max(loaded.values())
    assert orm_insert(engine, "orm-after") > max(loaded.values())


def test_first_load_with_rejects_and_duplicate_keys_keeps_the_earliest(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    advance_and_empty(engine, 500)
    rows = person_rows(100)
    rows[10] = {**rows[10], "email": "not an address"}
    rows.append({**rows[5], "givenName": "Duplicate5"})  # later occurrences of p-00005 and p-00020
    rows.append({**rows[20], "givenName": "Duplicate20", "email": "dup20@example.com"})
    summary = load(settings, write_csv(tmp_path / "people.csv", rows), tmp_path, max_errors=3)

    assert (summary.inserted, summary.rejected) == (99, 3)
    stored = people(engine)
    assert "p-00010" not in stored
    assert len(stored) == 99
    assert stored["p-00005"]["given_name"] == "Given5"
    assert (stored["p-00020"]["given_name"], stored["p-00020"]["email"]) == (
        "Given20",
        "person20@example.com",
    )
    rejected = rejects(tmp_path)
    assert [reject["record"] for reject in rejected] == sorted(reject["record"] for reject in rejected)
    numbers = [reject["record"] for reject in rejected]
    assert numbers[1] - numbers[0] == 90
    assert numbers[2] - numbers[1] == 1
    loaded = [int(row["id"]) for row in stored.values()]
    assert len(set(loaded)) == 99
    assert min(loaded) > 500
    assert orm_insert(engine, "orm-after") > max(loaded)


def test_first_load_with_an_identity_increment_of_5(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE person ALTER COLUMN id SET INCREMENT BY 5"))
    try:
        advance_and_empty(engine, 1000)
        summary = load(settings, write_csv(tmp_path / "people.csv", person_rows(30)), tmp_path)
        assert summary.inserted == 30
        loaded = sorted(ids(engine).values())
        last, _, increment = sequence_state(engine)
        assert increment == 5, "the swapped-in identity lost its INCREMENT"
        assert min(loaded) > 1000
        assert len(set(loaded)) == 30
        assert all(value % 5 == 0 for value in loaded), f"ids not from a sequence of step 5: {loaded[:8]}"
        after = orm_insert(engine, "orm-after")
        assert after > max(loaded)
        assert after % 5 == 0
        assert last >= max(loaded)
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE person ALTER COLUMN id SET INCREMENT BY 1"))


# --- a sync through the bulk path --------------------------------------------------------------


def test_bulk_sync_keeps_ids_and_gives_new_people_ids_past_every_one_before(
    settings: Settings, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load(settings, write_csv(tmp_path / "first.csv", person_rows(100)), tmp_path)
    before = ids(engine)
    last_before, _, _ = sequence_state(engine)
    # p-00000..04 deleted (5 %), p-00050..99 changed, p-00100..119 new.
    rows = person_rows(45, start=5) + person_rows(50, start=50, variant="-v2") + person_rows(20, start=100)
    caplog.set_level(logging.INFO, logger="loader_service")
    summary = load(settings, write_csv(tmp_path / "second.csv", rows), tmp_path, load_path="bulk")

    assert any("path=bulk" in line for line in path_events(caplog)), path_events(caplog)
    assert (summary.inserted, summary.updated, summary.deleted) == (20, 50, 5)
    after = people(engine)
    for key in [f"p-{n:05d}" for n in range(5, 100)]:
        assert after[key]["id"] == before[key], f"{key} changed id"
    assert after["p-00060"]["family_name"] == "Family60-v2"
    assert not {f"p-{n:05d}" for n in range(5)} & set(after)
    new_ids = [int(after[f"p-{n:05d}"]["id"]) for n in range(100, 120)]
    assert len(set(new_ids)) == 20
    assert min(new_ids) > max(last_before, *before.values()), "a new person got an id handed out before"
    assert not set(new_ids) & set(before.values()), "a deleted person's id was reused"
    assert orm_insert(engine, "orm-after") > max(new_ids)
    assert_distinct_ids(engine)


def test_bulk_swap_keeps_the_tables_shape_foreign_key_and_grants(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    role = f"blind20_{uuid.uuid4().hex[:8]}"

    def shape() -> dict[str, Any]:
        with engine.connect() as connection:

            def one(sql: str) -> list[tuple[Any, ...]]:
                return sorted(tuple(row) for row in connection.execute(text(sql)))

            return {
                "constraints": one(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = 'person'::regclass"
                ),
                "indexes": one(
                    "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'person'::regclass"
                ),
                "columns": one(
                    """SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                              a.attidentity, pg_get_expr(d.adbin, d.adrelid)
                       FROM pg_attribute a
                       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                       WHERE a.attrelid = 'person'::regclass AND a.attnum > 0 AND NOT a.attisdropped"""
                ),
                "comment": connection.execute(
                    text("SELECT obj_description('person'::regclass, 'pg_class')")
                ).scalar(),
                "grant": connection.execute(
                    text("SELECT has_table_privilege(:role, 'person', 'SELECT')"), {"role": role}
                ).scalar(),
            }

    with engine.begin() as connection:
        original_comment = connection.execute(
            text("SELECT obj_description('person'::regclass, 'pg_class')")
        ).scalar()
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        connection.execute(text(f'GRANT SELECT ON person TO "{role}"'))
        connection.execute(text("COMMENT ON TABLE person IS 'people (blind test)'"))
    try:
        before = shape()
        load(settings, write_csv(tmp_path / "first.csv", person_rows(60)), tmp_path, load_path="bulk")
        load(
            settings,
            write_csv(tmp_path / "second.csv", person_rows(60, variant="x")),
            tmp_path,
            load_path="bulk",
        )
        assert shape() == before
        # The foreign key into organization still acts: ON DELETE SET NULL.
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM organization WHERE external_id = 'org-0'"))
        after = people(engine)
        assert all(row["org"] is None for key, row in after.items() if int(key[2:]) % 3 == 0)
        assert all(row["org"] is not None for key, row in after.items() if int(key[2:]) % 3 != 0)
        with engine.begin() as connection, pytest.raises(Exception, match="foreign key"):
            connection.execute(text("UPDATE person SET organization_id = -1 WHERE external_id = 'p-00001'"))
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'REVOKE ALL ON person FROM "{role}"'))
            connection.execute(text(f'DROP ROLE "{role}"'))
            connection.execute(text("COMMENT ON TABLE person IS :comment"), {"comment": original_comment})


# --- other sessions during a load ----------------------------------------------------------------


def in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any], threading.Event]:
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # reported by the test
            outcome["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome, done


class _Seen(logging.Handler):
    """Sets `event` once a log line holding `needle` is emitted (the loader reached that step)."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle, self.event = needle, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


@pytest.mark.parametrize("mode", ["append", "sync"])
def test_a_concurrent_writer_during_a_first_load_collides_with_no_id(
    settings: Settings, engine: Engine, tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_csv(tmp_path / "big.csv", person_rows(60_000))
    building = _Seen("step=person_build")
    logging.getLogger("loader_service").addHandler(building)
    caplog.set_level(logging.INFO, logger="loader_service")  # restored after the test
    try:
        thread, outcome, done = in_thread(
            lambda: load(settings, source, tmp_path, mode=mode, load_path="bulk", max_delete="100%")
        )
        written: dict[str, int] = {}
        during_build: list[str] = []
        failures: list[str] = []
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            while not done.is_set():
                key = f"w-{len(written) + len(failures)}"
                if building.event.is_set():
                    during_build.append(key)
                try:
                    written[key] = connection.execute(
                        text(
                            "INSERT INTO person (external_id, given_name)"
                            " VALUES (:key, 'Writer') RETURNING id"
                        ),
                        {"key": key},
                    ).scalar_one()
                except Exception as error:
                    failures.append(f"{key}: {str(error).splitlines()[0]}")
                done.wait(0.02)  # pacing only
        thread.join(120)
    finally:
        logging.getLogger("loader_service").removeHandler(building)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].inserted == 60_000
    assert not failures, failures[:3]
    assert during_build, "no insert was tried while the loader built and swapped the table"
    stored = ids(engine)
    assert {f"p-{n:05d}" for n in range(60_000)} <= set(stored)
    assert len(set(stored.values())) == len(stored)
    # Every writer row still there kept the id it was given. Append deletes nobody; a sync deletes
    # the writer's rows it saw (not in the source) and counts them: none vanishes uncounted.
    for key, value in written.items():
        assert stored.get(key, value) == value, f"{key}: written with id {value}, stored {stored.get(key)}"
    gone = set(written) - set(stored)
    assert len(gone) == (0 if mode == "append" else outcome["result"].deleted), sorted(gone)[:3]
    assert_distinct_ids(engine)
    assert orm_insert(engine, "orm-after") > max(stored.values())


def test_readers_see_the_old_or_the_new_table_during_a_bulk_swap(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    load(settings, write_csv(tmp_path / "first.csv", person_rows(20_000)), tmp_path)
    source = write_csv(tmp_path / "second.csv", person_rows(25_000, variant="new"))
    thread, outcome, done = in_thread(lambda: load(settings, source, tmp_path, load_path="bulk"))
    seen: set[tuple[int, int]] = set()
    errors: list[str] = []
    polls = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        while not done.is_set():
            try:
                row = connection.execute(
                    text("SELECT count(*), count(*) FILTER (WHERE family_name LIKE '%new') FROM person")
                ).one()
                seen.add((int(row[0]), int(row[1])))
            except Exception as error:
                errors.append(str(error).splitlines()[0])
            polls += 1
    thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert not errors, errors[:3]
    assert polls > 1
    assert seen <= {(20_000, 0), (25_000, 25_000)}, seen
    assert fingerprint(engine)[0] == 25_000


def test_a_long_reader_delays_the_swap_without_queueing_new_readers_and_its_timeout_changes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load(settings, write_csv(tmp_path / "first.csv", person_rows(3_000)), tmp_path)
    before, tables = fingerprint(engine), relations(engine)
    source = write_csv(tmp_path / "second.csv", person_rows(3_000, variant="new"))
    busy = _Seen("event=swap_lock_busy")
    logging.getLogger("loader_service").addHandler(busy)
    caplog.set_level(logging.INFO, logger="loader_service")  # restored after the test
    try:
        # 1. The long reader outlasts the swap's attempts: the run fails and nothing changed.
        patient = settings.model_copy(update={"merge_lock_timeout": 1.0})
        with engine.connect() as reader:
            reader.execute(
                text("SELECT count(*) FROM person")
            ).scalar_one()  # holds ACCESS SHARE until rollback
            thread, outcome, done = in_thread(lambda: load(patient, source, tmp_path, load_path="bulk"))
            thread.join(120)
            reader.rollback()
        assert isinstance(outcome.get("error"), LoaderError), outcome
        assert busy.event.is_set()
        assert fingerprint(engine) == before
        assert not leftovers(engine)
        assert relations(engine) == tables

        # 2. The long reader ends while the swap retries: new readers read meanwhile, the run completes.
        busy.event.clear()
        with engine.connect() as reader:
            reader.execute(text("SELECT count(*) FROM person")).scalar_one()
            thread, outcome, done = in_thread(lambda: load(settings, source, tmp_path, load_path="bulk"))
            assert busy.event.wait(60), "the swap never found its lock busy"
            with engine.connect() as newcomer:
                assert newcomer.execute(text("SELECT count(*) FROM person")).scalar_one() == 3_000
            assert not done.is_set()
            reader.rollback()
            thread.join(120)
    finally:
        logging.getLogger("loader_service").removeHandler(busy)
    assert "error" not in outcome, outcome.get("error")
    assert people(engine)["p-00001"]["family_name"] == "Family1new"


# --- reading -------------------------------------------------------------------------------------


def test_a_quoted_multi_line_csv_field_loads_and_records_are_counted_not_lines(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    rows = person_rows(6)
    rows[1] = {**rows[1], "email": "bad"}
    rows[2] = {
        **rows[2],
        "givenName": "Anna\nMaria\nLuisa",
        "org": "org-ml",
        "orgName": 'Org, "quoted"\nline 2',
    }
    rows[4] = {**rows[4], "email": "bad too"}
    summary = load(settings, write_csv(tmp_path / "people.csv", rows), tmp_path, max_errors=2)

    assert (summary.inserted, summary.rejected) == (4, 2)
    stored = people(engine)
    assert stored["p-00002"]["given_name"] == "Anna\nMaria\nLuisa"
    with engine.connect() as connection:
        assert connection.execute(
            text("SELECT name FROM organization WHERE external_id = 'org-ml'")
        ).scalar_one() == ('Org, "quoted"\nline 2')
    first, second = (reject["record"] for reject in rejects(tmp_path))
    assert second - first == 3, "record numbers count lines, not records"


def test_an_over_long_record_in_the_middle_is_one_reject_and_the_rest_loads_csv_and_jsonl(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"max_record_bytes": 20_000})
    rows = person_rows(22)
    rows[1] = {**rows[1], "email": "bad"}
    rows[2] = {**rows[2], "familyName": "L" * 90_000}  # one line, longer than a 64 KiB block
    rows[4] = {**rows[4], "familyName": "\n".join(["M" * 8_000] * 3)}  # each line short, the record long
    rows[21] = {**rows[21], "email": "bad again"}
    summary = load(limited, write_csv(tmp_path / "people.csv", rows), tmp_path, max_errors=4)

    assert (summary.inserted, summary.rejected) == (18, 4)
    assert set(people(engine)) == {f"p-{n:05d}" for n in range(22)} - {
        "p-00001",
        "p-00002",
        "p-00004",
        "p-00021",
    }
    bad, long_line, long_record, last = rejects(tmp_path)
    assert (long_line["record"], long_record["record"], last["record"]) == (
        bad["record"] + 1,
        bad["record"] + 3,
        bad["record"] + 20,
    )
    assert "maximum record size" in reasons(long_line), reasons(long_line)
    assert "maximum record size" in reasons(long_record), reasons(long_record)

    # The JSON Lines equivalent: one line over the limit, between valid ones.
    (tmp_path / "rejects.jsonl").unlink()
    rows = person_rows(12, variant="j")
    rows[1] = {**rows[1], "email": "bad"}
    rows[2] = {**rows[2], "familyName": "L" * 90_000}
    summary = load(
        limited, write_jsonl(tmp_path / "people.jsonl", rows), tmp_path, max_errors=2, mode="append"
    )
    assert (summary.rejected, summary.updated, summary.inserted) == (2, 9, 1)
    stored = people(engine)
    assert all(stored[f"p-{n:05d}"]["family_name"] == f"Family{n}j" for n in range(12) if n not in (1, 2))
    bad, long_line = rejects(tmp_path)
    assert long_line["record"] == bad["record"] + 1
    assert "maximum record size" in reasons(long_line), reasons(long_line)


def test_a_bom_blank_lines_and_no_final_newline_csv_and_jsonl(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    rows = person_rows(3)
    lines = [",".join(HEADER)] + [",".join(str(row[field]) for field in HEADER) for row in rows]
    csv_bytes = (
        codecs.BOM_UTF8 + (lines[0] + "\r\n" + lines[1] + "\n\n" + lines[2] + "\r\n\r\n" + lines[3]).encode()
    )
    (tmp_path / "people.csv").write_bytes(csv_bytes)
    summary = load(settings, tmp_path / "people.csv", tmp_path)
    assert (summary.inserted, summary.rejected) == (3, 0)
    assert people(engine)["p-00002"]["email"] == "person2@example.com"

    changed = person_rows(3, variant="j")
    json_lines = [json.dumps(row) for row in changed]
    jsonl_bytes = (
        codecs.BOM_UTF8 + (json_lines[0] + "\n\n" + json_lines[1] + "\r\n\n" + json_lines[2]).encode()
    )
    (tmp_path / "people.jsonl").write_bytes(jsonl_bytes)
    summary = load(settings, tmp_path / "people.jsonl", tmp_path)
    assert (summary.updated, summary.rejected, summary.deleted) == (3, 0, 0)
    assert people(engine)["p-00002"]["family_name"] == "Family2j"


def test_latin_1_sources_load_with_the_setting_and_are_refused_without_it(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    rows = person_rows(4)
    rows[2] = {**rows[2], "givenName": "Zoë", "familyName": "Müller", "orgName": "Société Générale"}
    text_ = ",".join(HEADER) + "\n" + "".join(",".join(str(r[f]) for f in HEADER) + "\n" for r in rows)
    source = tmp_path / "people.csv"
    source.write_bytes(text_.encode("latin-1"))

    with pytest.raises(LoaderError) as refused:
        load(settings, source, tmp_path)  # utf-8-sig by default
    message = str(refused.value)
    assert f"byte offset {text_.encode('latin-1').index('ë'.encode('latin-1'))}" in message, message
    assert fingerprint(engine)[0] == 0
    # The record it names is the one a reject of the same record would name.
    control = [dict(row) for row in person_rows(4)]
    control[2]["email"] = "bad"
    load(settings, write_csv(tmp_path / "control.csv", control), tmp_path, max_errors=1, mode="append")
    (reject,) = rejects(tmp_path)
    assert f"at record {reject['record']}," in message, message
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE person, organization"))

    summary = load(settings.model_copy(update={"encoding": "latin-1"}), source, tmp_path)
    assert summary.inserted == 4
    stored = people(engine)["p-00002"]
    assert (stored["given_name"], stored["family_name"]) == ("Zoë", "Müller")
    assert ("org-2", "Société Générale") in organizations(engine)


# --- the error budget on a first load ------------------------------------------------------------


def seed_organization(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO organization (external_id, name) VALUES ('org-0', 'Kept Name')"))


def test_a_first_load_past_the_error_budget_changes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    seed_organization(engine)
    orgs, tables = organizations(engine), relations(engine)
    invalid = person_rows(50)
    for n in (3, 17, 40):
        invalid[n] = {**invalid[n], "email": f"bad {n}"}
    duplicates = person_rows(50)
    duplicates += [{**duplicates[n], "givenName": f"Dup{n}"} for n in (1, 2, 3)]
    # Invalid values fail while reading; duplicate keys only at the bulk build's unique key.
    for name, rows in (("invalid.csv", invalid), ("duplicates.csv", duplicates)):
        with pytest.raises(LoaderError):
            load(settings, write_csv(tmp_path / name, rows), tmp_path, max_errors=2, load_path="bulk")
        assert fingerprint(engine)[0] == 0, name
        assert organizations(engine) == orgs, name
        assert not leftovers(engine), name
        assert relations(engine) == tables, name
    # Within the budget the same source loads: the earliest of each key.
    summary = load(settings, tmp_path / "duplicates.csv", tmp_path, max_errors=3, load_path="bulk")
    assert (summary.inserted, summary.rejected) == (50, 3)
    assert people(engine)["p-00002"]["given_name"] == "Given2"


# --- SIGKILL -------------------------------------------------------------------------------------


def loader_backends(engine: Engine) -> int:
    """Other sessions of this database still working or holding the loader's advisory lock."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND backend_type = 'client backend'
                      AND (state <> 'idle' OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory'))
                    """
                )
            ).scalar_one()
        )


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize(
    ("previous", "kill_at"),
    [(0, "event=load_path"), (2_000, "step=person_build")],
    ids=["first-load-killed-before-the-build", "reload-killed-in-the-key-build"],
)
def test_sigkill_during_a_bulk_load_leaves_the_table_as_it_was(
    settings: Settings,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    spawned: list[subprocess.Popen[str]],
    previous: int,
    kill_at: str,
) -> None:
    if previous:
        load(settings, write_csv(tmp_path / "previous.csv", person_rows(previous)), tmp_path)
    before, tables = fingerprint(engine), relations(engine)
    source = write_csv(tmp_path / "big.csv", person_rows(150_000, variant="k"))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LOADER_")}
    environment.update(DATABASE_URL=database_url, LOADER_LOG_FORMAT="logfmt")
    command = [sys.executable, "-m", "loader_service", "run", "--source", str(source), "--path", "bulk"]
    command += ["--max-delete", "100%", "--rejects", str(tmp_path / "killed.rejects.jsonl")]
    process = subprocess.Popen(command, env=environment, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    spawned.append(process)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    while True:
        line = lines.get(timeout=120)
        assert line is not None, f"the run ended before `{kill_at}`: {seen[-5:]}"
        seen.append(line.rstrip())
        if kill_at in line:
            process.send_signal(signal.SIGKILL)
            break
    assert process.wait(30) == -signal.SIGKILL, seen[-5:]
    reader.join(30)

    # The server notices the dead client and rolls back: wait for that (a deadline, not a sleep).
    for _ in range(600):
        if loader_backends(engine) == 0:
            break
        threading.Event().wait(0.1)
    assert loader_backends(engine) == 0, "the killed run's session never ended"
    assert fingerprint(engine) == before
    assert not leftovers(engine)
    assert relations(engine) == tables

    summary = load(settings, source, tmp_path, load_path="bulk", max_delete="100%", lock_timeout=30)
    assert summary.read == 150_000
    assert fingerprint(engine)[0] == 150_000
