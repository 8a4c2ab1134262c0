"""Loader benchmark (`nox -s bench`): this loader against bare COPY and the per-row ORM loader.

The loader runs both ways side by side: the bulk path (build the next table without indexes,
swap it in) and the merge path (`--path merge`), on a first load and on a 90 %-changed sync;
the unchanged re-sync (auto: proven unchanged, skipped) and the same re-sync after one row was
edited in the database (auto: read, validated and compared in full, the edit repaired). The two
bare COPYs frame them: into an index-free table (the wire/parse ceiling) and into the indexed
`person`.

Every method runs in its own subprocess (a "worker" of this script) on the same generated file
and the same `person` table, so each gets a clean interpreter and its peak RSS is its own
(`os.wait4`). Times are measured inside the worker around the load itself (interpreter start-up
excluded, for every method alike). Not a test: it prints numbers, it asserts nothing.

    python benchmarks/run.py                 # 1M rows, 5M for memory, per-row loader on 50k
    python benchmarks/run.py --rows 100000 --memory-rows 200000 --per-row-rows 5000   # quick
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Only the standard library at module level: the bare-COPY workers import psycopg2 and nothing
# else, so their peak RSS is COPY's own, not SQLAlchemy's or pydantic's.
HERE = Path(__file__).resolve()


# --- workers (run in a subprocess each) --------------------------------------------------------


def _psycopg2(dsn: str) -> Any:
    import psycopg2

    return psycopg2.connect(dsn)


def _dsn(url: str) -> str:
    """libpq keywords for a SQLAlchemy URL, computed by the parent (workers skip SQLAlchemy)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parameters = parsed.translate_connect_args(username="user", database="dbname")
    parameters.update({key: str(value) for key, value in parsed.query.items()})
    return " ".join(f"{key}='{value}'" for key, value in parameters.items())


def worker_bare_copy_plain(dsn: str, source: str) -> dict[str, float]:
    """The wire/parse ceiling: the file as is into an index-free table of six text columns."""
    connection = _psycopg2(dsn)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        cursor.execute(
            "CREATE TABLE bench_raw (id text, given_name text, family_name text, email text,"
            " org text, org_name text)"
        )
        connection.commit()
        started = time.perf_counter()
        with open(source, "rb") as handle:
            cursor.copy_expert("COPY bench_raw FROM STDIN (FORMAT csv, HEADER true)", handle, 1 << 16)
        connection.commit()
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_raw")
    connection.commit()
    connection.close()
    return {"seconds": seconds}


def worker_bare_copy_person(dsn: str, source: str) -> dict[str, float]:
    """The same records COPY'd straight into `person` (its indexes and FK), org keys pre-resolved."""
    connection = _psycopg2(dsn)
    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id, id FROM organization")
        organizations = dict(cursor.fetchall())
        shaped = source + ".person.csv"
        with open(source, newline="", encoding="utf-8") as raw, open(shaped, "w", newline="") as out:
            reader = csv.reader(raw)
            next(reader)
            writer = csv.writer(out)
            for row in reader:
                writer.writerow([row[0], row[1], row[2], row[3], organizations[row[4]]])
        cursor.execute("TRUNCATE person RESTART IDENTITY")
        cursor.execute("CHECKPOINT")
        connection.commit()
        started = time.perf_counter()
        with open(shaped, "rb") as handle:
            cursor.copy_expert(
                "COPY person (external_id, given_name, family_name, email, organization_id)"
                " FROM STDIN (FORMAT csv)",
                handle,
                1 << 16,
            )
        connection.commit()
        seconds = time.perf_counter() - started
    connection.close()
    os.unlink(shaped)
    return {"seconds": seconds}


def worker_per_row(url: str, source: str, rows: int) -> dict[str, float]:
    """The write-up's loader: drop_all/create_all, then session.add() per row, one commit."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from orm_models import Base, Organization, Person

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    started = time.perf_counter()
    with Session(engine) as session, open(source, newline="", encoding="utf-8") as handle:
        organizations: dict[str, Organization] = {}
        reader = csv.DictReader(handle)
        for number, record in enumerate(reader):
            if number >= rows:
                break
            organization = organizations.get(record["org"])
            if organization is None:
                organization = Organization(external_id=record["org"], name=record["orgName"])
                organizations[record["org"]] = organization
                session.add(organization)
            session.add(
                Person(
                    external_id=record["id"],
                    given_name=record["givenName"],
                    family_name=record["familyName"] or None,
                    email=record["email"] or None,
                    organization=organization,
                )
            )
        session.commit()
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds}


def worker_validation(source: str, rows: int) -> dict[str, float]:
    """Validation alone, two ways: why the loader uses a TypeAdapter over a tuple."""
    from typing import Annotated

    from pydantic import BaseModel, StringConstraints

    from loader_service.mapping import EMAIL_PATTERN, validate_row

    def text_field(length: int, required: bool = False, pattern: str | None = None) -> Any:
        return Annotated[
            str if required else str | None,
            StringConstraints(
                strip_whitespace=True, min_length=1 if required else None, max_length=length, pattern=pattern
            ),
        ]

    class PersonRecord(BaseModel):  # the obvious per-row model, same rules
        id: text_field(64, True)  # type: ignore[valid-type]
        givenName: text_field(100, True)  # type: ignore[valid-type]  # noqa: N815 - the source's names
        familyName: text_field(100) = None  # type: ignore[valid-type]  # noqa: N815
        email: text_field(320, pattern=EMAIL_PATTERN) = None  # type: ignore[valid-type]
        org: text_field(64) = None  # type: ignore[valid-type]
        orgName: text_field(200) = None  # type: ignore[valid-type]  # noqa: N815

    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = [row for _, row in zip(range(rows), reader, strict=False)]
    started = time.perf_counter()
    for row in records:
        PersonRecord(**dict(zip(header, row, strict=True)))
    model = time.perf_counter() - started
    started = time.perf_counter()
    for row in records:
        validate_row(tuple(row))
    adapter = time.perf_counter() - started
    return {"model_seconds": model, "adapter_seconds": adapter, "rows": len(records)}


# --- orchestration ------------------------------------------------------------------------------


def _spawn(arguments: list[str], env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """Run a worker or the loader CLI; return its JSON output and its peak RSS in MB.

    The peak is the child's own VmHWM, polled from /proc: getrusage's ru_maxrss would also count
    the pages the child shared with this (larger) parent between fork and exec.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(arguments, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        peak_kib = 0
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
            except (OSError, ValueError):
                pass  # the child is exiting
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"benchmark step failed: {arguments}\n{err.read().decode()[-3000:]}")
        result: dict[str, Any] = json.loads(out.read().decode().strip().splitlines()[-1])
    return result, peak_kib / 1024


def _worker(name: str, *args: str) -> tuple[dict[str, Any], float]:
    return _spawn([sys.executable, str(HERE), "--worker", name, *args])


def _loader(url: str, source: Path, path: str = "auto") -> tuple[dict[str, Any], float]:
    return _spawn(
        [
            sys.executable,
            "-m",
            "loader_service",
            "run",
            "--source",
            str(source),
            "--json",
            "--path",
            path,
            "--max-delete",
            "100%",
        ],
        {"DATABASE_URL": url},
    )


def _changed(source: Path, target: Path, share: float) -> None:
    """`source` with `share` of its people renamed (every k-th person kept): a mostly-changed sync."""
    keep_every = max(1, round(1 / (1 - share))) if share < 1 else 0
    with (
        open(source, newline="", encoding="utf-8") as raw,
        open(target, "w", newline="", encoding="utf-8") as out,
    ):
        reader, writer = csv.reader(raw), csv.writer(out)
        writer.writerow(next(reader))
        for number, row in enumerate(reader):
            if not keep_every or number % keep_every:
                row[2] += "-changed"
            writer.writerow(row)


def _edit_one(url: str) -> None:
    """Someone edits one person behind the loader's back: the next sync must notice and repair it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE person SET given_name = 'Edited' WHERE id = (SELECT min(id) FROM person)")
        )
    engine.dispose()


def _reset(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("TRUNCATE person, organization RESTART IDENTITY"))
        connection.execute(text("VACUUM person, organization"))
        connection.execute(text("CHECKPOINT"))
    engine.dispose()


def _database(server_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"loader_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), name


def _drop(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the main comparison")
    parser.add_argument(
        "--memory-rows", type=int, default=5_000_000, help="second size for the RSS comparison"
    )
    parser.add_argument("--per-row-rows", type=int, default=50_000, help="slice for the per-row ORM loader")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker = globals()[f"worker_{arguments.worker}"]
        values = [int(value) if value.isdigit() else value for value in arguments.args]
        print(json.dumps(worker(*values)))
        return

    from orm_models import migrate
    from orm_models.testing.postgres import running_postgres

    with tempfile.TemporaryDirectory(prefix="loader-bench-") as scratch, running_postgres() as server_url:
        url, name = _database(server_url)
        try:
            migrate(url)
            _run(url, Path(scratch), arguments)
        finally:
            _drop(server_url, name)


def _run(url: str, scratch: Path, arguments: argparse.Namespace) -> None:
    import psutil
    from sqlalchemy import create_engine, text

    from loader_service.generate import generate
    from orm_models import migrate

    rows, big_rows, per_row_rows = arguments.rows, arguments.memory_rows, arguments.per_row_rows
    source = scratch / f"people-{rows}.csv"
    print(f"generating {rows:,} rows ...", flush=True)
    generate(source, rows, seed=1)
    size_mb = source.stat().st_size / 1e6
    engine = create_engine(url)
    with engine.connect() as connection:
        version: str = connection.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    results: list[tuple[str, int, float, float | None]] = []

    def report(label: str, count: int, seconds: float, rss: float | None) -> None:
        results.append((label, count, seconds, rss))
        memory = f"{rss:,.0f} MB" if rss is not None else "-"
        print(
            f"  {label:<46} {count:>10,} {seconds:>9.2f} {count / seconds:>11,.0f} {memory:>10}", flush=True
        )

    print(
        f"\nloader-service benchmark: {rows:,} rows ({size_mb:.0f} MB CSV), PostgreSQL {version}, "
        f"{psutil.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"  {'method':<46} {'rows':>10} {'seconds':>9} {'rows/s':>11} {'peak RSS':>10}")

    out, rss = _worker("bare_copy_plain", _dsn(url), str(source))
    report("bare COPY -> plain 6-text-column table", rows, out["seconds"], rss)
    plain = out["seconds"]

    _reset(url)
    merged, merged_rss = _loader(url, source, "merge")
    report("loader first load, merge path (--path merge)", rows, merged["seconds"], merged_rss)
    out, rss = _worker("bare_copy_person", _dsn(url), str(source))  # uses the organizations just loaded
    bare = out["seconds"]
    report("bare COPY -> person (4 indexes + FK)", rows, bare, rss)
    # The bare COPY left `person` full of the same records but with other ids: start over.
    _reset(url)
    first, first_rss = _loader(url, source)
    report("loader first load, bulk path (auto)", rows, first["seconds"], first_rss)
    resync, resync_rss = _loader(url, source)
    report("loader unchanged re-sync (auto: unchanged)", rows, resync["seconds"], resync_rss)
    if resync["inserted"] or resync["updated"] or resync["deleted"]:
        raise SystemExit(f"an unchanged re-sync changed rows: {resync}")
    _edit_one(url)
    repaired, repaired_rss = _loader(url, source)
    report("loader re-sync, 1 row edited (auto: merge)", rows, repaired["seconds"], repaired_rss)
    if (repaired["inserted"], repaired["updated"], repaired["deleted"]) != (0, 1, 0):
        raise SystemExit(f"the re-sync did not repair the edited row: {repaired}")

    changed = scratch / "changed.csv"
    _changed(source, changed, 0.9)
    changed_bulk, changed_bulk_rss = _loader(url, changed)
    report("loader 90%-changed sync, bulk path (auto)", rows, changed_bulk["seconds"], changed_bulk_rss)
    _loader(url, source, "bulk")  # back to the state that sync started from
    changed_merge, changed_merge_rss = _loader(url, changed, "merge")
    report("loader 90%-changed sync, merge path", rows, changed_merge["seconds"], changed_merge_rss)
    if (changed_bulk["updated"], changed_bulk["inserted"]) != (
        changed_merge["updated"],
        changed_merge["inserted"],
    ):
        raise SystemExit(f"the two paths disagree: {changed_bulk} vs {changed_merge}")
    changed.unlink()

    out, rss = _worker("per_row", url, str(source), str(per_row_rows))
    report(f"per-row session.add() ({per_row_rows:,}-row slice)", per_row_rows, out["seconds"], rss)
    per_row_rate = per_row_rows / out["seconds"]
    migrate(url)  # drop_all/create_all left tables without the migration history's extras

    validation, _ = _worker("validation", str(source), str(min(rows, 200_000)))

    big_rss = None
    if big_rows:
        big = scratch / f"people-{big_rows}.csv"
        if big != source:  # the same size: the file of the main comparison serves (never deleted under it)
            print(f"  (generating {big_rows:,} rows for the memory comparison ...)", flush=True)
            generate(big, big_rows, seed=1)
            source.unlink()
        _reset(url)
        out, big_rss = _loader(url, big)
        report(f"loader first load, bulk path, {big_rows:,} rows", big_rows, out["seconds"], big_rss)

    loader_rate = rows / first["seconds"]
    print("\nratios (targets: the README's loader benchmark):")
    print(
        f"  first load (bulk) vs bare COPY into person:  {loader_rate / (rows / bare):.2f}x throughput"
        "  (target >= 1.0x, aim 1.5x)"
    )
    print(f"  first load (merge) vs bare COPY into person: {bare / merged['seconds']:.2f}x throughput")
    print(f"  first load (bulk) vs bare COPY plain table:  {loader_rate / (rows / plain):.2f}x throughput")
    print(
        f"  unchanged re-sync / bare COPY into person:   {resync['seconds'] / bare:.2f}x the time"
        "  (target <= 0.5x)"
    )
    print(f"  re-sync, 1 row edited / bare COPY:           {repaired['seconds'] / bare:.2f}x the time")
    ratio = changed_bulk["seconds"] / changed_merge["seconds"]
    print(f"  90%-changed sync, bulk / merge:              {ratio:.2f}x the time  (target < 1x)")
    print(
        f"  first load (bulk) vs per-row session.add():  {loader_rate / per_row_rate:.0f}x  (target >= 20x)"
    )
    if big_rss is not None:
        change = 100 * (big_rss - first_rss) / first_rss
        print(
            f"  loader peak RSS {rows:,} vs {big_rows:,} rows: {first_rss:.0f} MB vs {big_rss:.0f} MB"
            f" ({change:+.1f}%)  (target <= 150 MB, within 10%)"
        )
    per = validation["rows"]
    print(
        f"  validation only, {per:,} rows: BaseModel per row"
        f" {per / validation['model_seconds']:,.0f} rows/s, "
        f"TypeAdapter over a tuple {per / validation['adapter_seconds']:,.0f} rows/s (what the loader uses)"
    )


if __name__ == "__main__":
    main()
