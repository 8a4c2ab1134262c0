"""One run: lock, open the source, validate and COPY into staging, check, merge, commit.

Every failure before the commit rolls the transaction back, so the live tables keep the
previous complete dataset; the caller gets a `LoaderError` with the reason.
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import extensions as pg

from loader_service import load, unchanged
from loader_service.config import Settings
from loader_service.errors import LoaderError, first_line
from loader_service.limits import DeleteLimit
from loader_service.load_path import LoadPath, SwapSettings, write
from loader_service.lock import advisory_lock
from loader_service.logs import event
from loader_service.mapping import KEY_FIELD, FieldError
from loader_service.rejects import Reject, RejectsFile
from loader_service.report import LogProgress, ProgressReporter, Summary
from loader_service.sources import RecordSource, open_source
from loader_service.sources.formats import Format
from loader_service.startup import register_and_guard
from loader_service.transform import Transform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What to load and how; `None` means "from the settings"."""

    source: str
    format: Format | None = None
    mode: load.Mode = "sync"
    rejects: Path | None = None
    max_errors: int | None = None
    lock_timeout: float | None = None
    max_delete: str | None = None
    """`20%` or `500` (see `limits`); None: `LOADER_MAX_DELETE`."""
    log_rejects: bool = False
    """With no `rejects` path: log every reject in full instead of writing a file (Lambda)."""
    load_path: LoadPath = "auto"
    """`bulk` (build and swap), `merge` (row by row), or `auto`: by the estimated share changed."""


def default_rejects_path(source: str, directory: Path | None = None) -> Path:
    """`people.csv.gz` -> `people.rejects.jsonl` (in the current directory unless told)."""
    name = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "source"
    for suffix in (".gz", ".csv", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return (directory or Path.cwd()) / f"{name}.rejects.jsonl"


def run_load(settings: Settings, options: RunOptions, progress: ProgressReporter | None = None) -> Summary:
    """Load `options.source` into the database of `settings`; raise `LoaderError` on any failure."""
    started = time.perf_counter()
    progress = progress or LogProgress(settings.progress_interval)
    max_errors = settings.max_errors if options.max_errors is None else options.max_errors
    lock_timeout = settings.lock_timeout if options.lock_timeout is None else options.lock_timeout
    max_delete = DeleteLimit.parse(settings.max_delete if options.max_delete is None else options.max_delete)
    if options.rejects is None and options.log_rejects:
        rejects = RejectsFile(None, log_all=True)
    else:
        rejects = RejectsFile(options.rejects or default_rejects_path(options.source))
    register_and_guard(settings)  # issue 9: every run registers, and refuses a schema it cannot serve

    connection = load.connect(settings.database_url.get_secret_value())
    try:
        with (
            advisory_lock(connection, lock_timeout),
            open_source(options.source, settings, options.format) as source,
        ):
            if source.ignored_fields:
                event(log.info, "ignored_fields", fields=",".join(source.ignored_fields))
            recorded = _unchanged_source(connection, source, settings, options)
            if recorded is not None:
                return _summary(
                    source.name, options.mode, recorded.records, load.MergeCounts(), rejects, started
                )
            transform = Transform(
                rejects, max_errors, source.raw_as_dict, progress.update, raw_key=source.raw_key
            )
            progress.start(source.name, source.size, lambda: source.bytes_read, lambda: source.decompressed)
            source.on_read(progress.tick)  # progress by bytes, even while no record comes out
            try:
                cursor = load.begin(connection, settings.work_mem, settings.merge_lock_timeout)
                oldest = unchanged.horizon(cursor)  # before anything reads person
                load.copy_into_staging(cursor, transform.chunks(source.records(), settings.batch_size))
                progress.phase("checking")
                load.keep(cursor, transform.kept_keys)

                def drop_duplicates() -> int:
                    """Reject the records reusing an earlier record's key (the first one wins); how many."""
                    duplicates = load.duplicates(cursor, limit=max_errors - rejects.count + 1)
                    for duplicate in duplicates:
                        key, first = duplicate.key, duplicate.first
                        reason = f"duplicate {KEY_FIELD.source} {key!r} (first at record {first})"
                        rejects.add(
                            Reject(
                                duplicate.record, (FieldError(KEY_FIELD.source, reason),), duplicate.values
                            )
                        )
                        transform.check_budget()
                    load.drop_records(cursor, [duplicate.record for duplicate in duplicates])
                    return len(duplicates)

                # Duplicates never take the last valid record of a key: none valid only if none was.
                valid = transform.valid
                if options.mode == "sync" and valid == 0:
                    raise LoaderError(
                        f"{source.name}: no valid records; refusing to sync (it would delete every person). "
                        "Nothing was changed."
                    )
                delete = transform.unkeyed == 0
                if options.mode == "sync" and not delete:
                    event(
                        log.warning,
                        "delete_skipped",
                        reason=f"{transform.unkeyed} rejected record(s) have no recoverable "
                        f"{KEY_FIELD.source}; deleting people missing from the source would be unsafe "
                        "(they may be among them)",
                    )
                progress.phase("merging")

                def before_commit(people: int | None, writer: int | None) -> None:
                    # Read to the end and proven whole then; still the same source now, before the
                    # commit (and before a swap's exclusive lock: this may be a request)? Then the
                    # reference for the next run's unchanged check, in this transaction.
                    source.verify()
                    _record(cursor, source, settings, options, transform, rejects, people, writer, oldest)

                written = write(
                    cursor,
                    options.mode,
                    delete,
                    requested=options.load_path,
                    staged=valid,
                    last_record=transform.read,
                    swap=SwapSettings(
                        settings.bulk_share, settings.swap_lock_timeout, settings.merge_lock_timeout
                    ),
                    max_delete=max_delete,
                    on_step=progress.step,
                    before_swap=before_commit,
                    dedupe=drop_duplicates,
                )
                connection.commit()
                if written.locked is not None:
                    held = round(1000 * (time.perf_counter() - written.locked), 1)
                    event(log.info, "swap_committed", lock_held_ms=held)
                counts = written.counts
            except BaseException:
                _rollback(connection)
                raise
            finally:
                progress.close()
                rejects.close()
    except psycopg2.Error as error:  # lock, begin, checks: the connection failed under us
        raise load.database_error("the run", error) from None
    finally:
        connection.close()

    return _summary(source.name, options.mode, transform.read, counts, rejects, started)


def _summary(
    name: str, mode: load.Mode, read: int, counts: load.MergeCounts, rejects: RejectsFile, started: float
) -> Summary:
    summary = Summary(
        source=name,
        mode=mode,
        read=read,
        inserted=counts.inserted,
        updated=counts.updated,
        deleted=counts.deleted,
        rejected=rejects.count,
        organizations_inserted=counts.organizations_inserted,
        organizations_updated=counts.organizations_updated,
        seconds=time.perf_counter() - started,
        rejects_file=str(rejects.written) if rejects.written else None,
    )
    event(log.info, "summary", **summary.as_dict())
    return summary


def _unchanged_source(
    connection: pg.connection, source: RecordSource, settings: Settings, options: RunOptions
) -> unchanged.Recorded | None:
    """The last sync's record if this run would change nothing (see `unchanged`); else None.

    Only a sync with `--path auto` (an explicit path forces the full run), and only from a
    source whose digest can be had without a second transfer (a local file).
    """
    if options.mode != "sync" or options.load_path != "auto" or not source.digest_ahead_offered:
        return None
    try:
        with connection.cursor() as cursor:
            recorded, reason = unchanged.unchanged_since_recorded(cursor)
        connection.commit()
    except psycopg2.Error as error:  # its record unreadable (privileges...): the full run decides
        _rollback(connection)
        recorded, reason = (
            None,
            f"the last sync's record cannot be read: {first_line(error)}",
        )
    if recorded is not None:
        digest = source.digest_ahead()
        assert digest is not None
        key = unchanged.load_key(
            digest, format=source.format, encoding=settings.encoding, max_record=settings.max_record_bytes
        )
        if key == recorded.key:
            event(
                log.info,
                "load_path",
                path="unchanged",
                reason="the same source (sha256) and loader as the last sync, which rejected nothing; "
                "person and organization unchanged since (no row written, none deleted)",
            )
            return recorded
        reason = "the source differs from the last sync's"
    event(log.info, "unchanged_check", result="full run", reason=reason)
    return None


def _record(
    cursor: pg.cursor,
    source: RecordSource,
    settings: Settings,
    options: RunOptions,
    transform: Transform,
    rejects: RejectsFile,
    people: int | None,
    writer: int | None,
    oldest: int,
) -> None:
    """Record this sync for the next run's unchanged check, if it qualifies (a whole sync, no reject)."""
    if options.mode != "sync" or rejects.count or transform.unkeyed:
        unchanged.forget(cursor)
        return
    key = unchanged.load_key(
        source.digest, format=source.format, encoding=settings.encoding, max_record=settings.max_record_bytes
    )
    unchanged.record(
        cursor,
        key,
        records=transform.read,
        expected_people=transform.valid,
        people=people,
        writer=writer,
        oldest=oldest,
    )


def _rollback(connection: pg.connection) -> None:
    """Roll back if the connection is still open; a lost one has nothing to roll back (the server did)."""
    if connection.closed:
        return
    try:
        connection.rollback()
    except psycopg2.Error as error:  # lost just now: keep the run's own error, not this one
        event(log.warning, "rollback_failed", reason=first_line(error))
