"""Atomicity under concurrency: readers, a second run, and SIGKILL in the middle of a load."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from conftest import fingerprint, person_rows, write_csv
from sqlalchemy import Engine, text

from loader_service.config import Settings
from loader_service.errors import LockBusyError
from loader_service.generate import generate
from loader_service.load import connect
from loader_service.load_path import LoadPath
from loader_service.lock import LOCK_KEY
from loader_service.report import Summary
from loader_service.run import RunOptions, run_load


def _cli(database_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "loader_service", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("path", ["merge", "bulk"])
def test_a_reader_never_sees_an_empty_table_or_a_mix_of_two_loads(
    path: LoadPath, settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    size = 20_000
    sources = [str(write_csv(tmp_path / f"{v}.csv", person_rows(size, variant=v))) for v in ("-A", "-B")]
    run_load(settings, RunOptions(sources[0]))
    seen: list[tuple[int, int, str]] = []
    done = threading.Event()
    # The loader waits, after each commit, until the reader has read once since: so the reader
    # sees every load whatever the relative speed of the two (it still reads during the loads).
    commits = 0
    watched = threading.Event()

    def loads() -> None:
        nonlocal commits
        try:
            for index in range(1, 5):
                run_load(settings, RunOptions(sources[index % 2], load_path=path))
                watched.clear()
                commits += 1
                watched.wait(timeout=120)
        finally:
            done.set()

    loader = threading.Thread(target=loads)
    loader.start()
    acknowledged = 0
    with migrated_engine.connect() as connection:
        while not done.is_set():
            known = commits  # read before the query: the query's snapshot includes that commit
            row = connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT right(family_name, 2)), min(right(family_name, 2))"
                    " FROM person"
                )
            ).one()
            connection.commit()
            seen.append((row[0], row[1], row[2]))
            if known > acknowledged:
                acknowledged = known
                watched.set()
    loader.join()

    assert all(count == size and variants == 1 for count, variants, _ in seen), set(seen)
    assert {variant for _, _, variant in seen} == {"-A", "-B"}  # the reader did watch loads commit


def test_second_run_exits_at_once_when_told_not_to_wait(
    settings: Settings, csv_file: object, tmp_path: Path
) -> None:
    holder = connect(settings.database_url.get_secret_value())
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with pytest.raises(
            LockBusyError, match=r"another loader run is in progress \(server pid \d+.*not waiting"
        ):
            run_load(settings, RunOptions(str(write_csv(tmp_path / "p.csv", person_rows(3))), lock_timeout=0))
    finally:
        holder.close()


def test_second_run_waits_for_the_lock_then_loads(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Seen waiting (its `lock_wait` line), not timed: it loads only once the holder lets go."""
    caplog.set_level(logging.INFO, logger="loader_service.lock")
    holder = connect(settings.database_url.get_secret_value())
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    outcome: list[Summary] = []
    source = str(write_csv(tmp_path / "p.csv", person_rows(3)))
    loader = threading.Thread(
        target=lambda: outcome.append(run_load(settings, RunOptions(source, lock_timeout=120)))
    )
    loader.start()
    try:
        while loader.is_alive() and not any("lock_wait" in r.getMessage() for r in caplog.records):
            time.sleep(0.02)
        assert loader.is_alive(), "the second run did not wait for the lock"
        with migrated_engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM person")).scalar_one() == 0
    finally:
        holder.close()
    loader.join()

    [summary] = outcome
    assert summary.inserted == 3


def test_two_concurrent_cli_runs_one_waits_no_duplicates(
    database_url: str, migrated_engine: Engine, tmp_path: Path
) -> None:
    source = str(write_csv(tmp_path / "p.csv", person_rows(20_000)))

    runs = [_cli(database_url, "--source", source, "--lock-timeout", "60") for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    inserted = sorted(int(out.split("inserted ")[1].split(",")[0]) for out, _ in outputs)
    assert inserted == [0, 20_000]  # one loaded, the other found nothing to do
    assert fingerprint(migrated_engine)[0] == 20_000


def test_concurrent_cli_run_told_not_to_wait_exits_with_status_3(database_url: str, tmp_path: Path) -> None:
    holder = connect(database_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        run = _cli(database_url, "--source", str(write_csv(tmp_path / "p.csv", person_rows(3))))
        _, err = run.communicate(timeout=60)
    finally:
        holder.close()
    assert run.returncode == 3
    assert "another loader run is in progress" in err


_PHASE_QUERIES = {
    "copy": r"^\s*COPY loader_staging",
    "merge": r"^\s*(UPDATE person|INSERT INTO person|DELETE FROM person)",
    # The bulk path: writing the next table, building its keys and indexes.
    "bulk_build": r"INSERT INTO .*loader_next_person",
    "bulk_keys": r"(ADD CONSTRAINT|CREATE (UNIQUE )?INDEX) .*loader_next_person",
}
_PATHS = {"copy": "auto", "merge": "merge", "bulk_build": "bulk", "bulk_keys": "bulk"}


@pytest.mark.slow
@pytest.mark.parametrize("phase", list(_PHASE_QUERIES))
def test_sigkill_mid_load_leaves_the_previous_dataset(
    phase: str, settings: Settings, database_url: str, migrated_engine: Engine, tmp_path: Path
) -> None:
    previous = tmp_path / "previous.csv"
    generate(previous, 100_000, seed=1)
    run_load(settings, RunOptions(str(previous)))
    before = fingerprint(migrated_engine)
    large = tmp_path / "next.csv"
    generate(large, 150_000, seed=2, variant="-next", start=50_000)  # updates, inserts and deletes

    # Deletes half the people.
    run = _cli(database_url, "--source", str(large), "--max-delete", "100%", "--path", _PATHS[phase])
    watcher = connect(database_url)
    watcher.autocommit = True
    with watcher.cursor() as cursor:
        cursor.execute("SET application_name = 'loader-tests'")
    try:
        deadline = time.monotonic() + 60
        while not _loader_running(watcher, _PHASE_QUERIES[phase]):
            assert run.poll() is None, f"the load finished before reaching the {phase}: {run.communicate()}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(run.pid, signal.SIGKILL)
        run.communicate(timeout=30)
        # The server notices the dead client and rolls back (client_connection_check_interval).
        while _loader_running(watcher, "."):
            assert time.monotonic() < deadline, "the killed loader's backend never ended"
            time.sleep(0.05)
    finally:
        watcher.close()
        if run.poll() is None:
            run.kill()
            run.communicate()

    assert run.returncode == -signal.SIGKILL
    assert fingerprint(migrated_engine) == before
    _assert_no_next_table(migrated_engine)
    # The lock died with the connection: the next run gets it and completes.
    assert run_load(settings, RunOptions(str(large), max_delete="100%")).read == 150_000


def test_sigkill_while_the_swap_waits_for_its_lock_leaves_the_previous_table(
    settings: Settings,
    database_url: str,
    migrated_engine: Engine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Killed inside the swap (a long reader keeps it retrying): the old table, whole, and no leftover;
    and the previous sync's record (the killed one's died with its transaction)."""
    run_load(settings, RunOptions(str(write_csv(tmp_path / "a.csv", person_rows(200)))))
    before = fingerprint(migrated_engine)
    with migrated_engine.connect() as long_reader:
        long_reader.execute(text("SELECT count(*) FROM person")).scalar_one()  # ACCESS SHARE to its end
        source = write_csv(tmp_path / "b.csv", person_rows(200, variant="-b"))
        run = _cli(database_url, "--source", str(source), "--path", "bulk")
        watcher = connect(database_url)
        watcher.autocommit = True
        with watcher.cursor() as cursor:
            cursor.execute("SET application_name = 'loader-tests'")
        try:
            deadline = time.monotonic() + 60
            while not _loader_running(watcher, r"LOCK TABLE .* IN ACCESS EXCLUSIVE MODE"):
                assert run.poll() is None, f"the load ended before its swap: {run.communicate()}"
                assert time.monotonic() < deadline
                time.sleep(0.005)
            os.kill(run.pid, signal.SIGKILL)
            run.communicate(timeout=30)
            while _loader_running(watcher, "."):
                assert time.monotonic() < deadline, "the killed loader's backend never ended"
                time.sleep(0.05)
        finally:
            watcher.close()
            if run.poll() is None:
                run.kill()
                run.communicate()
        long_reader.rollback()
    assert run.returncode == -signal.SIGKILL
    assert fingerprint(migrated_engine) == before
    _assert_no_next_table(migrated_engine)
    caplog.set_level(logging.INFO, logger="loader_service")
    assert run_load(settings, RunOptions(str(tmp_path / "a.csv"))).read == 200
    assert any("path=unchanged" in record.getMessage() for record in caplog.records)
    caplog.clear()
    assert run_load(settings, RunOptions(str(source))).updated == 200
    assert not any("path=unchanged" in record.getMessage() for record in caplog.records)


def _assert_no_next_table(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT to_regclass('loader_next_person')")).scalar_one() is None


def _loader_running(watcher: "psycopg2.extensions.connection", pattern: str) -> bool:
    with watcher.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loader-service' "
            "AND datname = current_database() AND state = 'active' AND query ~ %s",
            (pattern,),
        )
        row = cursor.fetchone()
    return bool(row and row[0])
