"""A real PostgreSQL for demos and tests: `DATABASE_URL` if set, else an embedded server.

The embedded server comes from the `pgserver` wheel (PostgreSQL binaries shipped on PyPI). Where
no pgserver wheel fits the interpreter, PostgreSQL binaries found on the machine are used the
same way pytest-postgresql does (`initdb` + `pg_ctl`). Both listen on a Unix socket inside the
data directory only, so parallel servers never fight over a TCP port.
"""

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from orm_models.urls import database_url

DATABASE_URL_VARIABLE = "DATABASE_URL"


# Public since 1.0.0: renaming it to satisfy N818 would be a major change for its callers.
class PostgresUnavailable(RuntimeError):  # noqa: N818
    """No embedded PostgreSQL can be started here; the message says what to do instead."""


class EmbeddedPostgres(Protocol):
    """A PostgreSQL server this process started and owns."""

    data_dir: Path

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database as superuser `postgres`."""
        ...

    def start(self) -> None:
        """Start the server (idempotent); data in `data_dir` is kept."""
        ...

    def stop(self) -> None:
        """Stop the server (idempotent); data in `data_dir` is kept."""
        ...


def _socket_url(socket_dir: Path, database: str = "postgres") -> str:
    return f"postgresql+psycopg2://postgres@/{database}?host={socket_dir}"


class _PgServer:
    """Backed by the `pgserver` wheel."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            # platformdirs warns at pgserver's import when XDG_RUNTIME_DIR is unset (CI, cron).
            warnings.simplefilter("ignore")
            import pgserver  # noqa: F401 - fail here, at construction, when the wheel is missing

        self.data_dir = data_dir
        self._server: Any = None
        self._socket_dir: Path | None = None
        self._short_dir = _short_socket_dir(data_dir)

    @property
    def url(self) -> str:
        if self._socket_dir is None:
            raise RuntimeError("server not started")
        return _socket_url(self._socket_dir)

    def start(self) -> None:
        if self._server is None:
            with warnings.catch_warnings():  # the same platformdirs warning, on first use
                warnings.simplefilter("ignore")
                self._server = self._open_server()
            self._socket_dir = Path(self._server.get_postmaster_info().socket_dir)

    def _open_server(self) -> Any:
        from pgserver.postgres_server import PostgresServer, get_server

        try:
            return self._new_server(PostgresServer, get_server)
        except BaseException:
            # pgserver keeps an instance per data directory even when it failed to start it, and
            # would hand that dead instance to the next start on the same directory.
            PostgresServer._instances.pop(self.data_dir.resolve(), None)
            raise

    def _new_server(self, server_class: Any, get_server: Any) -> Any:
        if self._short_dir is None:
            return get_server(self.data_dir, cleanup_mode="stop")
        # pgserver's own fallback is a directory under platformdirs' runtime path, which is
        # under TMPDIR when /run/user/<uid> is missing (CI, containers) — and nox and pytest set
        # TMPDIR to deep paths. So give it a short parent of our own.
        _claim(self._short_dir, owners={os.geteuid()})
        short_socket_server = type(
            "ShortSocketPostgresServer", (server_class,), {"runtime_path": self._short_dir}
        )
        return short_socket_server(self.data_dir.resolve(), cleanup_mode="stop")

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        # pgserver keeps the server up while another process holds a handle on it: its socket stays.
        if not (self.data_dir / "postmaster.pid").exists():
            _release(self._short_dir)


class _SystemPostgres:
    """Backed by `initdb`/`pg_ctl` from a PostgreSQL installed on the machine."""

    def __init__(self, data_dir: Path, bin_dir: Path, settings: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self._bin_dir = bin_dir
        self._settings = dict(settings or {})
        # PostgreSQL refuses to run as root; Debian's packages create a `postgres` user for it.
        self._run_as = "postgres" if os.geteuid() == 0 else None
        self._short_dir = _short_socket_dir(data_dir)
        self._socket_dir = self._short_dir or data_dir

    @property
    def url(self) -> str:
        return _socket_url(self._socket_dir)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin_dir / tool), *args]
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            log = self.data_dir / "server.log"
            details = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr
            raise PostgresUnavailable(f"{tool} failed ({result.returncode}): {details}")

    def start(self) -> None:
        if self._short_dir is not None:
            owners = {os.geteuid()}
            if self._run_as is not None:
                import pwd  # POSIX only, like running as another user

                owners.add(pwd.getpwnam(self._run_as).pw_uid)
            _claim(self._short_dir, owners)
        if self._run_as is not None:
            _allow_traversal(self.data_dir.parent)
            shutil.chown(self.data_dir, user=self._run_as)
            shutil.chown(self._socket_dir, user=self._run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if not (self.data_dir / "postmaster.pid").exists():
            options = f"-c listen_addresses='' -k {self._socket_dir}"
            options += "".join(f" -c {name}={value}" for name, value in self._settings.items())
            log = str(self.data_dir / "server.log")
            self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        _release(self._short_dir)


# The kernel limits a Unix socket path to 108 bytes on Linux and 104 on macOS.
_SOCKET_PATH_LIMIT = 100


def _short_socket_dir(data_dir: Path) -> Path | None:
    """None when the socket fits in `data_dir`, else a short directory of its own under /tmp.

    The name is derived from the data directory, so a restarted server keeps its URL and its
    clients reconnect by themselves.
    """
    # Measured on the resolved path: that is the one pgserver hands to PostgreSQL.
    if os.name == "nt":  # pgserver listens on TCP there: no socket path to shorten
        return None
    if len(os.fsencode(data_dir.resolve() / ".s.PGSQL.5432")) < _SOCKET_PATH_LIMIT:
        return None
    # Not tempfile.gettempdir(): it follows TMPDIR, which nox and pytest set to deep paths.
    digest = hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:16]
    return Path("/tmp") / f"pgsock-{os.geteuid()}-{digest}"  # noqa: S108 - _claim checks the owner


def _claim(directory: Path, owners: set[int]) -> None:
    """Create `directory` privately, or reuse one a killed run left behind — never a stranger's.

    Its name in /tmp is predictable, so another user could have created it (or a symlink) first.
    """
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        found = directory.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid not in owners:
            raise PostgresUnavailable(
                f"{directory} exists and is not ours; remove it or set {DATABASE_URL_VARIABLE}"
            ) from None


def _release(directory: Path | None) -> None:
    """Remove a short socket directory once its server has stopped."""
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _allow_traversal(directory: Path) -> None:
    """Let another user reach `directory` (search bit only: listing stays private), as pgserver does."""
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)


def _system_bin_dir() -> Path | None:
    on_path = shutil.which("pg_ctl")
    if on_path is not None and shutil.which("initdb") is not None:
        return Path(on_path).parent
    # Debian/Ubuntu keep the server binaries off PATH, one directory per major version.
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return candidates[0].parent if candidates else None


def embedded_postgres(
    data_dir: Path, prefer: str = "pgserver", settings: Mapping[str, str] | None = None
) -> EmbeddedPostgres:
    """An embedded server on `data_dir` (not yet started).

    Args:
        data_dir: Where the cluster lives; created on first start, reused afterwards.
        prefer: "pgserver" (default) or "system" to use machine binaries even if pgserver exists.
        settings: Server settings for its command line (e.g. `shared_preload_libraries`); only
            machine binaries take them, so with settings the server is always the "system" one.

    Raises:
        PostgresUnavailable: Neither pgserver nor PostgreSQL binaries are available.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    if prefer == "pgserver" and not settings:
        try:
            return _PgServer(data_dir)
        except ImportError:
            pass
    bin_dir = _system_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "No embedded PostgreSQL here: the `pgserver` wheel is not installed (it exists for "
            "CPython 3.9-3.12) and no initdb/pg_ctl was found. "
            f"Set {DATABASE_URL_VARIABLE} to a PostgreSQL server, e.g. "
            "postgresql+psycopg2://user@host:5432/dbname"
        )
    return _SystemPostgres(data_dir, bin_dir, settings)


@contextmanager
def running_postgres(data_dir: Path | None = None) -> Iterator[str]:
    """Yield a database URL: `DATABASE_URL` when set, else a started embedded server.

    `DATABASE_URL` may use any form `orm_models.urls.database_url` accepts (`postgresql://`,
    `postgres://`, `postgresql+psycopg2://`); the URL yielded names the installed driver. The
    embedded server is stopped on exit. Without `data_dir` it lives in a temporary
    directory that is removed afterwards.
    """
    configured = os.environ.get(DATABASE_URL_VARIABLE)
    if configured:
        url = database_url(configured)
        # Only a bare scheme is rewritten: any other URL is yielded exactly as configured.
        yield (
            configured
            if url.drivername == make_url(configured).drivername
            else url.render_as_string(hide_password=False)
        )
        return
    with tempfile.TemporaryDirectory(prefix="orm-models-pg-") as scratch:
        server = embedded_postgres(data_dir or Path(scratch) / "data")
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def _backend_kind() -> str:
    """Which embedded server `embedded_postgres` would start: "pgserver" or "system"."""
    try:
        _PgServer(Path(tempfile.gettempdir()))
    except ImportError:
        return "system"
    return "pgserver"


def _notice(message: str) -> None:
    print(f"orm-models: {message}", file=sys.stderr)


def _reason(data_dir: Path, error: BaseException) -> str:
    """Why a cluster did not start, in one line: the server log's last FATAL, else the error's first line."""
    for log in (data_dir / "log", data_dir / "server.log"):
        try:
            fatal = [line for line in log.read_text(errors="replace").splitlines() if "FATAL:" in line]
        except OSError:
            continue
        if fatal:
            return fatal[-1].split("FATAL:", 1)[1].strip()
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


@contextmanager
def cached_postgres(cache_dir: Path) -> Iterator[str]:
    """Yield the URL of an embedded server whose cluster is kept in `cache_dir` between runs.

    A kept cluster restarts in a fraction of initdb's time. Each user and each kind of server
    (pgserver or machine binaries, which run as different users and chown differently) has a
    directory of its own, `<kind>-uid<N>`; a run holds it under an advisory lock. A second run
    while the first holds it, or a run whose directory cannot be used (another owner, a broken
    or foreign cluster), does not fail: it says so in one line and takes a fresh directory — in
    place of the broken one when it can be removed, else a temporary one.
    """
    import fcntl  # POSIX, like the Unix sockets the servers listen on

    data_dir = cache_dir / f"{_backend_kind()}-uid{os.geteuid()}"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = (cache_dir / f"{data_dir.name}.lock").open("a")
    except OSError as error:
        _notice(f"cannot use {cache_dir} ({error.strerror}); using a temporary PostgreSQL instead")
        with running_postgres() as url:
            yield url
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another check holds the cached cluster: starting a second server on it would let
            # whichever run ends first stop the other's server.
            with running_postgres() as url:
                yield url
            return
        with _started(data_dir) as url:
            yield url


@contextmanager
def _quiet_pgserver() -> Iterator[None]:
    """pgserver logs a failed start with the whole server log; the notice says it in one line."""
    import logging

    logger = logging.getLogger("pgserver")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextmanager
def _started(data_dir: Path) -> Iterator[str]:
    try:
        server = embedded_postgres(data_dir)
        with _quiet_pgserver():
            server.start()
    except Exception as error:
        if isinstance(error, PostgresUnavailable) and "Set DATABASE_URL" in str(error):
            raise  # no server of any kind here: a fresh directory would not help
        reason = _reason(data_dir, error)
        system_dir = data_dir.with_name(data_dir.name.replace("pgserver-", "system-", 1))
        denied = "Permission denied" in f"{reason} {error}"
        if denied and system_dir != data_dir and _system_bin_dir() is not None:
            # pgserver's binaries live in the venv: as root they run as another user, who cannot
            # reach a venv under a private directory (`Permission denied`). The machine's
            # PostgreSQL can; it keeps a directory of its own (the two chown differently).
            _notice(f"pgserver's PostgreSQL could not start ({reason}); using the machine's in {system_dir}")
            with _started_system(system_dir) as url:
                yield url
            return
        if not _removed(data_dir):
            _notice(
                f"the PostgreSQL in {data_dir} cannot be used ({reason}) nor removed; using a temporary one"
            )
            with running_postgres() as url:
                yield url
            return
        _notice(f"the PostgreSQL in {data_dir} could not be used ({reason}); replaced by a fresh one")
        server = embedded_postgres(data_dir)
        server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def _started_system(data_dir: Path) -> Iterator[str]:
    server = embedded_postgres(data_dir, prefer="system")
    try:
        with _quiet_pgserver():
            server.start()
    except Exception as error:
        reason = _reason(data_dir, error)
        if not _removed(data_dir):
            raise PostgresUnavailable(f"the PostgreSQL in {data_dir} cannot be used ({reason})") from None
        _notice(f"the PostgreSQL in {data_dir} could not be used ({reason}); replaced by a fresh one")
        server = embedded_postgres(data_dir, prefer="system")
        server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _removed(path: Path) -> bool:
    """Remove what is at `path` (a directory, a file, a link); True when nothing is left there."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
    return not (path.exists() or path.is_symlink())
