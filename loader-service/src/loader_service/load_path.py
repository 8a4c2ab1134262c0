"""Which way staging reaches `person`: the row merge or the bulk build-and-swap, chosen by cost.

The merge writes each changed row into the indexed table (every index updated per row); the
bulk path rewrites the whole table without indexes and builds them once. The merge wins while
few rows change; the bulk path once a large share does (a first load: all of them). The share
is estimated from a sample of staging looked up in `person` (milliseconds), and compared with
`LOADER_BULK_SHARE`. The log line `load_path` says which path ran and why.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import psycopg2
from psycopg2 import errors
from psycopg2 import extensions as pg

from loader_service import bulk, load
from loader_service.choices import LOAD_PATHS as LOAD_PATHS  # re-exported: defined there for the CLI
from loader_service.choices import LoadPath as LoadPath
from loader_service.limits import DeleteLimit
from loader_service.logs import event
from loader_service.table_shape import read_shape

STEPS = (*load.ORGANIZATION_STEPS, *bulk.BULK_STEPS)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    counts: load.MergeCounts
    path: Literal["bulk", "merge"]
    locked: float | None = None
    """`perf_counter()` when the swap took its exclusive lock (held until the caller commits)."""


@dataclass(frozen=True)
class SwapSettings:
    share: float
    """Estimated share of rows changed from which the bulk path is taken."""
    lock_timeout: float
    """Seconds one attempt waits for the swap's exclusive lock before stepping back."""
    wait: float
    """Seconds of attempts before the run gives up (nothing changed)."""


def write(
    cursor: pg.cursor,
    mode: load.Mode,
    delete: bool,
    *,
    requested: LoadPath,
    staged: int,
    last_record: int,
    swap: SwapSettings,
    max_delete: DeleteLimit | None,
    on_step: load.StepReporter,
    before_swap: Callable[[int | None, int | None], None],
    dedupe: Callable[[], int],
) -> Written:
    """Write staging into the live tables by the chosen path; the caller commits.

    `before_swap` runs after the bulk build and before the exclusive lock (the source's last
    check), told how many people the table holds at the commit (None: not counted, the merge)
    and the id of the subtransaction that wrote them (None: the transaction's own): nothing slow
    happens while readers wait. `last_record` is the highest record number staged (a first load
    numbers its people's ids by it). `dedupe` drops (and rejects) the staged records
    that repeat an earlier record's key and says how many: the merge needs it first; the bulk
    path only when its build meets a duplicate key (the next table's unique key says so at no
    extra cost, where looking for them first costs a pass over staging: 0.15-0.2 s per 300k).
    """
    deletes = mode == "sync" and delete
    path, reason = _choose(cursor, requested, deletes, staged, swap.share)
    event(log.info, "load_path", path=path, reason=reason)
    if path == "merge":
        dedupe()
        counts = load.merge(cursor, mode, delete, max_delete=max_delete, on_step=on_step)
        before_swap(None, None)
        return Written(counts, "merge")
    try:
        organizations, built = _build(cursor, deletes, max_delete, last_record, on_step, dedupe)
        before_swap(built.rows, built.writer)
        on_step("person_swap", len(STEPS), len(STEPS))
        locked = bulk.swap(cursor, built, lock_timeout=swap.lock_timeout, wait=swap.wait)
    except psycopg2.Error as error:
        raise load.database_error("bulk load", error) from None
    counts = load.MergeCounts(built.inserted, built.updated, built.deleted, *organizations)
    return Written(counts, "bulk", locked)


def _build(
    cursor: pg.cursor,
    deletes: bool,
    max_delete: DeleteLimit | None,
    last_record: int,
    on_step: load.StepReporter,
    dedupe: Callable[[], int],
) -> tuple[tuple[int, int], bulk.Built]:
    """Organizations and the next `person` from staging, duplicates dropped once the build meets one."""
    for attempt in ("optimistic", "deduplicated"):
        cursor.execute("SAVEPOINT loader_build")
        try:
            organizations = load.merge_organizations(cursor, on_step, STEPS)
            built = bulk.build(
                cursor,
                read_shape(cursor, bulk.TABLE),
                deletes=deletes,
                max_delete=max_delete,
                last_record=last_record,
                on_step=lambda name: on_step(name, STEPS.index(name) + 1, len(STEPS)),
            )
        except errors.UniqueViolation:
            # A key staged twice (a duplicate record) or a unique value the source repeats.
            cursor.execute("ROLLBACK TO SAVEPOINT loader_build")
            if attempt == "deduplicated" or not dedupe():
                raise  # not a duplicate record: the source breaks a unique constraint of person
            event(log.info, "bulk_step", step="person_build", retried="duplicate keys dropped")
            continue
        cursor.execute("RELEASE SAVEPOINT loader_build")
        return organizations, built
    raise AssertionError("unreachable: the second attempt returns or raises")  # pragma: no cover


def _choose(
    cursor: pg.cursor, requested: LoadPath, deletes: bool, staged: int, share: float
) -> tuple[Literal["bulk", "merge"], str]:
    if requested == "merge":
        return "merge", "asked for (--path merge)"
    shape = read_shape(cursor, bulk.TABLE)
    if shape.blockers:
        why = "; ".join(shape.blockers)
        if requested == "bulk":
            event(log.warning, "bulk_refused", reason=why)
        return "merge", f"a swap cannot carry {bulk.TABLE}: {why}"
    if requested == "bulk":
        return "bulk", "asked for (--path bulk)"
    started = time.perf_counter()
    guess = bulk.estimate(cursor, staged, deletes)
    measured = (
        f"~{guess.inserted} inserted, ~{guess.updated} updated, ~{guess.deleted} deleted of "
        f"{guess.live} people ({guess.changed_share:.0%} changed, bulk from {share:.0%}; "
        f"sampled in {time.perf_counter() - started:.3f} s)"
    )
    if guess.live == 0:
        return "bulk", f"{bulk.TABLE} is empty: a first load"
    if guess.changed_share >= share:
        return "bulk", measured
    return "merge", measured
