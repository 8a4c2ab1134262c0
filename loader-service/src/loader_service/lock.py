"""One run at a time: a session-level PostgreSQL advisory lock, held for the whole run.

Session-level, so it is released by the server when the loader's connection ends for any
reason, SIGKILL included; advisory locks are per database, so runs on other databases never wait.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from psycopg2 import extensions as pg

from loader_service.errors import LockBusyError, first_line
from loader_service.logs import event

# "loader" in ASCII: a fixed key every loader-service version agrees on.
LOCK_KEY = int.from_bytes(b"loader", "big")
_POLL_SECONDS = 0.2

log = logging.getLogger(__name__)


@contextmanager
def advisory_lock(connection: pg.connection, timeout: float) -> Iterator[None]:
    """Hold the loader's lock; wait up to `timeout` seconds for it, then raise `LockBusyError`."""
    deadline = time.monotonic() + timeout
    waiting_logged = False
    while not _try_lock(connection):
        if time.monotonic() >= deadline:
            raise LockBusyError(
                f"another loader run is in progress ({_holder(connection)}); "
                + (f"gave up after waiting {timeout:g} s" if timeout else "not waiting")
                + " (set LOADER_LOCK_TIMEOUT or --lock-timeout to wait longer)"
            )
        if not waiting_logged:
            event(log.info, "lock_wait", holder=_holder(connection), timeout_s=timeout)
            waiting_logged = True
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        if not connection.closed:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
                connection.commit()
            except psycopg2.Error as error:  # the connection is gone, and the session lock with it
                event(log.warning, "unlock_failed", reason=first_line(error))


def _try_lock(connection: pg.connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        row = cursor.fetchone()
    connection.commit()
    return bool(row and row[0])


def _holder(connection: pg.connection) -> str:
    """Who holds the lock, for the message: backend pid, client, since when."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.pid, a.application_name, a.backend_start
            FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
                SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
            """,
            (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
        )
        row = cursor.fetchone()
    connection.commit()
    if row is None:
        return "holder unknown"
    pid, application, started = row
    return f"server pid {pid}, {application or 'unnamed client'}, connected {started:%Y-%m-%d %H:%M:%S}"
