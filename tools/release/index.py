"""The private index: pypiserver on loopback, htpasswd auth for every action, never --overwrite,
behind the guard that keeps published versions immutable (`pypiserver_guard`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tools.release import ReleaseError
from tools.release.credentials import DEFAULT_HOST, Credentials, load_or_create_local
from tools.release.simple import fetch

HOST = DEFAULT_HOST
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 20.0
PIDFILE = "pypiserver.pid"
URLFILE = "pypiserver.url"
"""Beside the pidfile: where the running index serves (a second `serve` names it)."""


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def write_htpasswd(path: Path, *users: Credentials) -> None:
    """An Apache htpasswd file for pypiserver, apr1-md5 hashed: cheap enough to check per request."""
    with warnings.catch_warnings():
        # passlib (pypiserver's own htpasswd reader) imports the stdlib `crypt`, deprecated in 3.11+.
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]  # index venv only

    htpasswd = HtpasswdFile(str(path), new=True, default_scheme="apr_md5_crypt")
    for user in users:
        htpasswd.set_password(user.username, user.password)
    htpasswd.save()
    path.chmod(0o600)


COMPOSE_HTPASSWD = "compose.htpasswd"


def write_compose_htpasswd(state_dir: Path) -> Path:
    """The htpasswd of compose.yaml's index: the local upload and read users (generated if missing).

    Mode 0644, unlike the local index's: compose mounts a file secret as it is, and the index runs
    as an unprivileged user. It holds salted hashes of 32-character random passwords only.
    """
    local = load_or_create_local(state_dir / "credentials")
    path = state_dir / COMPOSE_HTPASSWD
    write_htpasswd(path, local.upload, local.read)
    path.chmod(0o644)
    return path


@dataclass
class IndexServer:
    """A pypiserver process serving `packages`; a context manager that always stops it.

    `credentials=None` serves anonymously (the tests' fake "public" index); otherwise every
    action — update, download, list — needs them. `reader` may list and download, never upload
    (the guard refuses it). `fallback_url` is where pypiserver redirects names it does not hold
    (None: its built-in default, the public index).
    """

    packages: Path
    credentials: Credentials | None
    htpasswd: Path | None = None
    reader: Credentials | None = None
    port: int = 0
    fallback_url: str | None = None
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def simple_url(self) -> str:
        return self.url + "simple/"

    def command(self) -> list[str]:
        """pypiserver's own command line, run behind the guard (`--uploader` names who may upload)."""
        guard = [sys.executable, "-m", "tools.release.pypiserver_guard"]
        if self.credentials is not None:
            guard += ["--uploader", self.credentials.username]
        command = [*guard, "--", "run", "-i", HOST, "-p", str(self.port)]
        if self.credentials is None:
            command += ["-a", ".", "-P", "."]
        else:
            if self.htpasswd is None:
                raise ReleaseError("an authenticated index needs an htpasswd file")
            command += ["-a", "update,download,list", "-P", str(self.htpasswd)]
        if self.fallback_url:
            command += ["--fallback-url", self.fallback_url]
        return [*command, str(self.packages)]

    def start(self) -> IndexServer:
        self.packages.mkdir(parents=True, exist_ok=True)
        if self.credentials is not None and self.htpasswd is not None:
            write_htpasswd(self.htpasswd, *(u for u in (self.credentials, self.reader) if u is not None))
        if not self.port:
            self.port = free_port()
        # The guard is imported from this checkout, whatever the caller's sys.path.
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = os.environ | {"PYTHONPATH": path}
        if self.log is None:
            self.process = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env
            )
        else:
            with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
                self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ReleaseError(
                    f"pypiserver exited with status {self.process.returncode} before serving on "
                    f"{self.url} (port taken? see {self.log or 'its output'})"
                )
            try:
                status, _ = fetch(self.url + "health", None, timeout=1.0)
            except ReleaseError:
                status = 0
            if status == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise ReleaseError(f"pypiserver did not answer on {self.url} within {START_TIMEOUT_SECONDS:.0f}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class _SigtermError(Exception):
    """SIGTERM reached `serve`."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _SigtermError


def serve(state_dir: Path, port: int, fallback_url: str | None) -> int:
    """Run the local index in the foreground until Ctrl-C or `stop`; the `nox -s index` session."""
    pidfile = state_dir / PIDFILE
    running = _running(pidfile)
    if running is not None:
        # Leave it, and its pidfile, exactly as they are.
        raise ReleaseError(
            f"the index is already running at {running[1]}, pid {running[0]} ({pidfile}); "
            "stop it first with: python3 noxfile.py -s index -- stop"
        )
    pidfile.unlink(missing_ok=True)  # stale: its process is gone
    holder = port_holder(port)
    if holder is not None:
        raise ReleaseError(
            f"port {port} on {HOST} is already in use by {holder}; set ORM_INDEX_URL to another port"
        )
    credentials_file = state_dir / "credentials"
    local = load_or_create_local(credentials_file)
    credentials = local.upload
    server = IndexServer(
        packages=state_dir / "packages",
        credentials=credentials,
        reader=local.read,
        htpasswd=state_dir / "htpasswd",
        port=port,
        fallback_url=fallback_url,
        log=state_dir / "pypiserver.log",
    )
    # SIGTERM only interrupts what runs below; `finally` stops pypiserver. (Stopping it from inside
    # the handler would wait on a Popen whose wait() the handler interrupted, and time out.) The
    # handler goes in before the server starts: a supervisor may send SIGTERM as soon as it sees
    # the banner, or even before.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        server.start()
        assert server.process is not None
        pidfile.write_text(f"{server.process.pid}\n", encoding="utf-8")
        (state_dir / URLFILE).write_text(f"{server.url}\n", encoding="utf-8")
        print(
            f"private index: {server.url} (simple API: {server.simple_url})\n"
            f"  packages:    {server.packages}\n"
            f"  credentials: {credentials_file} (upload: {credentials.username}, "
            f"read: {local.read.username}; "
            f"load them with: set -a && . {credentials_file} && set +a)\n"
            f"  log:         {server.log}\n"
            f"stop it with Ctrl-C, or from another shell: python3 noxfile.py -s index -- stop",
            flush=True,
        )
        code = server.process.wait()
        # Stopped by `stop`, Ctrl-C or SIGTERM: a normal end, not a failure of the session.
        return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
    except (KeyboardInterrupt, _SigtermError):
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        server.stop()
        pidfile.unlink(missing_ok=True)
        (state_dir / URLFILE).unlink(missing_ok=True)
        print("private index stopped", flush=True)


def stop(state_dir: Path) -> int:
    """Stop the index `serve` started in `state_dir`, and only that process."""
    pidfile = state_dir / PIDFILE
    if not pidfile.exists():
        print(f"no index running from {state_dir} (no {PIDFILE})")
        return 0
    pid = int(pidfile.read_text(encoding="utf-8").split()[0])
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"pypiserver" not in cmdline.read_bytes():
        raise ReleaseError(f"pid {pid} in {pidfile} is not our pypiserver; not touching it")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"index (pid {pid}) was not running")
    else:
        print(f"stopped the index (pid {pid})")
    pidfile.unlink(missing_ok=True)
    (state_dir / URLFILE).unlink(missing_ok=True)
    return 0


def _running(pidfile: Path) -> tuple[int, str] | None:
    """(pid, URL) of the index a pidfile names, when that process is alive and is our pypiserver."""
    try:
        pid = int(pidfile.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        url = (pidfile.parent / URLFILE).read_text(encoding="utf-8")
    except OSError:
        url = ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"pypiserver" not in cmdline.read_bytes():
        return None  # the pid was reused by another program
    return pid, url.strip() or "an unknown URL"


def port_holder(port: int) -> str | None:
    """None when `port` is free on HOST; else who holds it ("pid N (command)" where /proc tells)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            pass
        else:
            return None
    return _listener(port) or "another program"


def _listener(port: int) -> str | None:
    """The process listening on `port`, from /proc (Linux); None elsewhere or when hidden from us."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                # Its name only: another program's arguments may hold a secret.
                return f"pid {proc.name} ({(proc / 'comm').read_text().strip()})"
        except OSError:
            continue
    return None
