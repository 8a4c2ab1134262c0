"""The bulk path: build the next `person` without indexes, index it, swap it in for the live one.

COPY into an indexed table pays for every index on every row; building the same keys and
indexes afterwards sorts each column once, several times faster. So a first load, or a sync
that replaces most people, writes the whole next table (kept people with their ids, new people
from the identity sequence, everyone else left out) into a fresh table with no index, then
builds the keys, indexes and constraints the live table has, under their names (read from the
catalog, see `table_shape`), and swaps it in. All of it is one transaction with the staging
COPY: a crash or a kill at any moment leaves the live table as it was.

Locks: `person` is held in SHARE mode from the start of the build (other writers wait; readers
never do), and in ACCESS EXCLUSIVE only for the swap itself: a few catalog renames, then the
commit. That lock is taken with a short `lock_timeout` inside a savepoint and retried: while a
long reader holds the table, our waiting request would make every new reader queue behind it,
so we step back (the build stays) and try again.

READ COMMITTED readers (the API's) see the old table or the new one. Like TRUNCATE, a swap is
not MVCC-safe for a REPEATABLE READ transaction that took its snapshot before the swap and
reads `person` for the first time after it: it sees the new table without its rows.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg2 import errors, sql
from psycopg2 import extensions as pg

from loader_service.errors import DatabaseError
from loader_service.limits import DeleteLimit
from loader_service.logs import event
from loader_service.table_shape import TableShape

log = logging.getLogger(__name__)

TABLE = "person"
STAGING = "loader_staging"
KEPT = "loader_kept"
NEXT = "loader_next_person"
BULK_STEPS = ("person_build", "person_keys", "person_analyze", "person_swap")

# The loader writes these columns; every other column of a kept person keeps its value.
_DIFFERS = """(p.given_name, p.family_name, p.email, p.organization_id)
              IS DISTINCT FROM (s.given_name, s.family_name, s.email, o.id)"""
_WRITTEN = {
    "external_id": "s.external_id",
    "given_name": "s.given_name",
    "family_name": "s.family_name",
    "email": "s.email",
    "organization_id": "o.id",
    "updated_at": f"CASE WHEN {_DIFFERS} THEN now() ELSE p.updated_at END",
}
_SORT_MEMORY = "128MB"
_SAMPLE_ROWS = 4000
"""Staging rows the path choice looks up in `person` (by its unique index): a few milliseconds."""


@dataclass(frozen=True)
class Estimate:
    """What a sync would change, from a sample: the input of the path choice."""

    live: int
    staged: int
    inserted: int
    updated: int
    deleted: int

    @property
    def changed_share(self) -> float:
        """Rows written by a merge over rows the next table holds (both ends counted)."""
        return (self.inserted + self.updated + self.deleted) / max(self.live + self.inserted, 1)


def estimate(cursor: pg.cursor, staged: int, deletes: bool) -> Estimate:
    """Estimate the merge's inserts, updates and deletes by looking a sample of staging up."""
    cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE})")
    row = cursor.fetchone()
    if row and row[0]:
        return Estimate(0, staged, staged, 0, 0)
    cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (TABLE,))
    row = cursor.fetchone()
    live = int(row[0]) if row else -1
    if live < 0:  # never analyzed or vacuumed: count
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        row = cursor.fetchone()
        live = int(row[0]) if row else 0
    percent = min(100.0, 100.0 * _SAMPLE_ROWS / max(staged, 1))
    # A handful of index lookups: the run's "hash joins only" does not suit them.
    cursor.execute("SET LOCAL enable_nestloop = on")
    cursor.execute(
        f"""
        SELECT count(*), count(p.id), count(*) FILTER (WHERE p.id IS NOT NULL AND {_DIFFERS})
        FROM {STAGING} AS s TABLESAMPLE SYSTEM (%s)
        LEFT JOIN organization AS o ON o.external_id = s.org_external_id
        LEFT JOIN {TABLE} AS p ON p.external_id = s.external_id
        """,
        (percent,),
    )
    sampled, matched, differing = cursor.fetchone() or (0, 0, 0)
    cursor.execute("SET LOCAL enable_nestloop = off")
    if not sampled:
        return Estimate(live, staged, 0, 0, live if deletes else 0)
    kept = round(staged * matched / sampled)
    return Estimate(
        live=live,
        staged=staged,
        inserted=staged - kept,
        updated=round(staged * differing / sampled),
        deleted=max(0, live - kept) if deletes else 0,
    )


@dataclass(frozen=True)
class Built:
    """The next table, ready to swap in; and the counts of what the swap will change."""

    shape: TableShape
    inserted: int
    updated: int
    deleted: int
    rows: int
    """People in the next table."""
    writer: int | None
    """The (32-bit) transaction id its rows carry as `xmin` (a savepoint's own id, if in one)."""


Step = Callable[[str], None]


def build(
    cursor: pg.cursor,
    shape: TableShape,
    *,
    deletes: bool,
    max_delete: DeleteLimit | None,
    last_record: int,
    on_step: Step,
) -> Built:
    """Write the next `person` from staging and the live table, with every key, index and grant.

    `last_record` is the highest record number staged (the source's record count).
    """
    assert shape.identity is not None  # a blocker otherwise
    next_table = shape.qualified(NEXT)
    live_table = shape.qualified()
    on_step("person_build")
    started = time.perf_counter()
    # Writers wait from here to the commit: a row they wrote meanwhile would not be in the next
    # table. Readers are never blocked by SHARE.
    cursor.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(live_table))
    cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(live_table))
    row = cursor.fetchone()
    live = int(row[0]) if row else 0
    cursor.execute(
        sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE"
            " INCLUDING COMPRESSION INCLUDING COMMENTS)"
        ).format(next_table, live_table)
    )
    if shape.reloptions:  # options as the catalog prints them (`fillfactor=90`)
        cursor.execute(
            sql.SQL("ALTER TABLE {} SET ({})").format(
                next_table, sql.SQL(", ").join(map(sql.SQL, shape.reloptions))
            )
        )

    kept, updated = _carry_over(cursor, shape, next_table, live_table, deletes) if live else (0, 0)
    deleted = live - kept
    if deleted and max_delete is not None:
        max_delete.check(deleted, live)
    cursor.execute(
        sql.SQL(
            """
            INSERT INTO {next} (id, external_id, given_name, family_name, email, organization_id)
            SELECT {id}, s.external_id, s.given_name, s.family_name, s.email, o.id
            FROM {staging} AS s LEFT JOIN organization AS o ON o.external_id = s.org_external_id
            {new_only}
            """
        ).format(
            next=next_table,
            id=_new_ids(cursor, shape, first_load=not live, last_record=last_record),
            staging=sql.Identifier(STAGING),
            # A first load: every staged person is new (the table is empty and SHARE-locked).
            new_only=sql.SQL(
                ""
                if not live
                else "WHERE NOT EXISTS (SELECT 1 FROM {} AS p WHERE p.external_id = s.external_id)"
            ).format(live_table),
        )
    )
    inserted = cursor.rowcount
    event(log.info, "bulk_step", step="person_build", rows=kept + inserted, seconds=_since(started))

    on_step("person_keys")
    started = time.perf_counter()
    # Each index build sorts its column in memory up to this, then on disk: 1M emails fit.
    cursor.execute("SET LOCAL maintenance_work_mem = %s", (_SORT_MEMORY,))
    identity = shape.identity
    cursor.execute(
        sql.SQL("ALTER TABLE {} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY (SEQUENCE NAME {} {})").format(
            next_table,
            sql.Identifier(identity.column),
            sql.SQL(identity.kind),
            shape.qualified(_temporary("s", 0)),
            sql.SQL(identity.options),
        )
    )
    for number, (_, definition) in enumerate(shape.constraints):
        cursor.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                next_table, sql.Identifier(_temporary("c", number)), sql.SQL(definition)
            )
        )
    for number, (_, unique, body) in enumerate(shape.indexes):
        cursor.execute(
            sql.SQL("CREATE {}INDEX {} ON {} {}").format(
                sql.SQL("UNIQUE " if unique else ""),
                sql.Identifier(_temporary("i", number)),
                next_table,
                sql.SQL(body),
            )
        )
    _copy_access(cursor, shape, next_table, shape.qualified(_temporary("s", 0)))
    event(log.info, "bulk_step", step="person_keys", seconds=_since(started))

    on_step("person_analyze")
    started = time.perf_counter()
    # Readers' plans need statistics from their first query on, not from autovacuum's visit.
    cursor.execute(sql.SQL("ANALYZE {}").format(next_table))
    event(log.info, "bulk_step", step="person_analyze", seconds=_since(started))
    cursor.execute(sql.SQL("SELECT xmin::text FROM {} LIMIT 1").format(next_table))
    row = cursor.fetchone()
    writer = int(row[0]) if row else None
    return Built(
        shape, inserted=inserted, updated=int(updated), deleted=deleted, rows=kept + inserted, writer=writer
    )


def _carry_over(
    cursor: pg.cursor, shape: TableShape, next_table: sql.Composed, live_table: sql.Composed, deletes: bool
) -> tuple[int, int]:
    """Copy the live people the next table keeps; return (kept, of them updated)."""
    columns = sql.SQL(", ").join(map(sql.Identifier, shape.columns))
    # Kept people: the source's values, every other column (created_at, columns added by later
    # releases) as it is; updated_at moves only when something changed, as in the merge.
    values = sql.SQL(", ").join(
        sql.SQL(_WRITTEN[column]) if column in _WRITTEN else sql.SQL("p.{}").format(sql.Identifier(column))
        for column in shape.columns
    )
    cursor.execute(
        sql.SQL(
            """
            WITH moved AS (
                INSERT INTO {next} ({columns})
                SELECT {values}
                FROM {staging} AS s JOIN {live} AS p ON p.external_id = s.external_id
                LEFT JOIN organization AS o ON o.external_id = s.org_external_id
                RETURNING updated_at
            )
            SELECT count(*), count(*) FILTER (WHERE updated_at = now()) FROM moved
            """
        ).format(
            next=next_table, columns=columns, values=values, staging=sql.Identifier(STAGING), live=live_table
        )
    )
    kept, updated = cursor.fetchone() or (0, 0)
    # People the source does not have: kept as they are in append mode, when deleting is unsafe,
    # and when their record was rejected (its key is in KEPT).
    survivors: sql.Composable = sql.SQL("")
    if deletes:
        survivors = sql.SQL("AND EXISTS (SELECT 1 FROM {} AS k WHERE k.external_id = p.external_id)").format(
            sql.Identifier(KEPT)
        )
    cursor.execute(
        sql.SQL(
            """
            INSERT INTO {next} ({columns}) SELECT {old} FROM {live} AS p
            WHERE NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE s.external_id = p.external_id) {survivors}
            """
        ).format(
            next=next_table,
            columns=columns,
            old=sql.SQL(", ").join(sql.SQL("p.{}").format(sql.Identifier(c)) for c in shape.columns),
            live=live_table,
            staging=sql.Identifier(STAGING),
            survivors=survivors,
        )
    )
    return int(kept) + cursor.rowcount, int(updated)


def _new_ids(cursor: pg.cursor, shape: TableShape, *, first_load: bool, last_record: int) -> sql.Composable:
    """The id of each new person: from the live table's identity sequence, so none is ever reused.

    A sync's new people each take a `nextval`. A first load's people are the staged records
    themselves, numbered 1..`last_record`: one statement reserves that many ids at once and
    person number k gets the range's k-th (a rejected or duplicate record leaves its id unused,
    as a failed INSERT leaves its nextval). Measured 0.35-0.6 s less per 1M rows than a nextval a
    row. Nobody else takes ids from the range: an INSERT into `person` locks it (ROW EXCLUSIVE)
    before it evaluates its id, and we hold SHARE until the commit; the range is taken before the
    sequence moves on, so later ids come after it. (A bare `SELECT nextval(...)` landing in the
    microseconds between the statement's nextval and its setval would get an id of the range;
    inserting it later fails on the primary key, it never overwrites anyone.)
    """
    assert shape.identity is not None
    sequence = sql.Literal(
        sql.SQL(".")
        .join([sql.Identifier(shape.schema), sql.Identifier(shape.identity.sequence)])
        .as_string(cursor)
    )
    if not first_load or last_record < 1 or shape.identity.increment != 1:
        return sql.SQL("nextval({})").format(sequence)
    cursor.execute(
        sql.SQL("SELECT setval({sequence}, nextval({sequence}) - 1 + %s) - %s").format(sequence=sequence),
        (last_record, last_record),
    )
    row = cursor.fetchone()
    assert row is not None
    return sql.SQL("{} + s.record_no").format(sql.Literal(int(row[0])))


def _copy_access(cursor: pg.cursor, shape: TableShape, table: sql.Composed, sequence: sql.Composed) -> None:
    """The live table's owner, grants and comment on the next table (and its sequence's grants)."""
    cursor.execute("SELECT current_user")
    row = cursor.fetchone()
    if row is None or row[0] != shape.owner:
        cursor.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(table, sql.Identifier(shape.owner)))
    for target, kind, grants in (
        (table, "TABLE", shape.grants),
        (sequence, "SEQUENCE", shape.sequence_grants),
    ):
        # Default privileges may have granted the new table what the live one does not have.
        cursor.execute(
            """
            SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
            FROM pg_class AS c, aclexplode(c.relacl) AS a
            WHERE c.oid = %s::regclass AND a.grantee <> c.relowner
            """,
            (target.as_string(cursor),),
        )
        for (grantee,) in cursor.fetchall():
            cursor.execute(
                sql.SQL("REVOKE ALL ON {} {} FROM {}").format(sql.SQL(kind), target, _grantee(grantee))
            )
        for grantee, privilege, grantable in grants:
            cursor.execute(
                sql.SQL("GRANT {} ON {} {} TO {}{}").format(
                    sql.SQL(privilege),
                    sql.SQL(kind),
                    target,
                    _grantee(grantee),
                    sql.SQL(" WITH GRANT OPTION" if grantable else ""),
                )
            )
    if shape.comment is not None:
        cursor.execute(sql.SQL("COMMENT ON TABLE {} IS %s").format(table), (shape.comment,))


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "PUBLIC" else sql.Identifier(name)


def swap(cursor: pg.cursor, built: Built, *, lock_timeout: float, wait: float) -> float:
    """Swap the next table in for the live one; return when the exclusive lock was taken.

    The caller commits at once: the lock is held from here to the commit.
    """
    shape = built.shape
    live_table = shape.qualified()
    deadline = time.monotonic() + wait
    attempts = 0
    while True:
        attempts += 1
        cursor.execute("SAVEPOINT loader_swap")
        cursor.execute("SET LOCAL lock_timeout = %s", (f"{max(1, int(lock_timeout * 1000))}ms",))
        try:
            cursor.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(live_table))
            break
        except errors.LockNotAvailable:
            # Our queued request made new readers wait behind it: withdraw it, let them in.
            cursor.execute("ROLLBACK TO SAVEPOINT loader_swap")
            if time.monotonic() >= deadline:
                raise DatabaseError(
                    f"swap failed, nothing was changed: {shape.name} stayed busy with readers for "
                    f"{wait:g} s ({attempts} attempts to lock it for milliseconds)"
                ) from None
            event(log.info, "swap_lock_busy", attempt=attempts)
            time.sleep(min(0.05 * attempts, 1.0, max(0.0, deadline - time.monotonic())))
    locked = time.perf_counter()
    assert shape.identity is not None
    old_sequence = sql.SQL(".").join([sql.Identifier(shape.schema), sql.Identifier(shape.identity.sequence)])
    new_sequence = shape.qualified(_temporary("s", 0))
    # Ids handed out since the build, by anyone, are never handed out again.
    cursor.execute(
        sql.SQL("SELECT setval({}, last_value, is_called) FROM {}").format(
            sql.Literal(new_sequence.as_string(cursor)), old_sequence
        )
    )
    cursor.execute(sql.SQL("DROP TABLE {}").format(live_table))
    cursor.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(shape.qualified(NEXT), sql.Identifier(shape.name))
    )
    cursor.execute(
        sql.SQL("ALTER SEQUENCE {} RENAME TO {}").format(
            new_sequence, sql.Identifier(shape.identity.sequence)
        )
    )
    for number, (name, _) in enumerate(shape.constraints):
        cursor.execute(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                live_table, sql.Identifier(_temporary("c", number)), sql.Identifier(name)
            )
        )
    for number, (name, _, _) in enumerate(shape.indexes):
        cursor.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                shape.qualified(_temporary("i", number)), sql.Identifier(name)
            )
        )
    cursor.execute("RELEASE SAVEPOINT loader_swap")
    event(log.info, "bulk_step", step="person_swap", attempts=attempts, seconds=_since(locked))
    return locked


def _temporary(kind: str, number: int) -> str:
    """A name for the next table's objects until the swap gives them the live ones'."""
    return f"{NEXT}_{kind}{number}"


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)
