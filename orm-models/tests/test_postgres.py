"""The embedded PostgreSQL used by the demo and the tests, and the DATABASE_URL override."""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from orm_models.testing import postgres
from orm_models.testing.postgres import PostgresUnavailable, embedded_postgres, running_postgres


def _select_one(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT 1")).scalar_one())
    finally:
        engine.dispose()


# A data directory deep enough that a socket inside it passes the kernel's 108-byte limit
# whatever directory the checkout and TMPDIR happen to be in.
DEEP = "d" * 110


@pytest.mark.parametrize("depth", ["shallow", "deep"])
@pytest.mark.parametrize("prefer", ["pgserver", "system"])
def test_embedded_server_starts_stops_and_keeps_its_data(tmp_path: Path, prefer: str, depth: str) -> None:
    data_dir = tmp_path / "data" if depth == "shallow" else tmp_path / DEEP / "data"
    if prefer == "system" and postgres._system_bin_dir() is None:
        # A machine with only Python and pip: the fallback must then say what to do instead.
        with pytest.raises(PostgresUnavailable, match="Set DATABASE_URL"):
            embedded_postgres(data_dir, prefer=prefer)
        return
    server = embedded_postgres(data_dir, prefer=prefer)
    try:
        server.start()
        url = server.url
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE kept (value int)"))
            connection.execute(sa.text("INSERT INTO kept VALUES (42)"))
        engine.dispose()

        server.stop()
        with pytest.raises(OperationalError):
            _select_one(url)

        server.start()
        # The same URL again: clients of a restarted server reconnect without being told.
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT value FROM kept")).scalar_one() == 42
        engine.dispose()
        server.stop()
    finally:
        server.stop()  # idempotent: never leave a server behind when an assertion fails
    assert not (data_dir / "postmaster.pid").exists()
    if depth == "deep":
        socket_dir = Path(str(make_url(url).query["host"]))
        assert len(str(socket_dir)) < 100
        assert not socket_dir.exists(), "the short socket directory is removed on stop"


def test_a_short_link_to_a_deep_data_directory_gets_a_short_socket(tmp_path: Path) -> None:
    """pgserver resolves the data directory, so the socket length must be judged on the real path."""
    deep = tmp_path / DEEP / "data"
    deep.mkdir(parents=True)
    link = Path(tempfile.mkdtemp(prefix="pglink-", dir="/tmp")) / "d"
    try:
        link.symlink_to(deep)
        assert postgres._short_socket_dir(link) is not None
    finally:
        link.unlink(missing_ok=True)
        link.parent.rmdir()


_OTHER_HANDLE = """
import sys
from pathlib import Path
from orm_models.testing.postgres import embedded_postgres
server = embedded_postgres(Path(sys.argv[1]))
server.start()
server.stop()
"""


def test_stopping_another_handle_on_a_shared_server_keeps_its_socket(tmp_path: Path) -> None:
    """pgserver keeps a server up while another process holds it: its socket must stay too."""
    data_dir = tmp_path / DEEP / "data"
    server = embedded_postgres(data_dir, prefer="pgserver")
    server.start()
    try:
        other = subprocess.run(
            [sys.executable, "-c", _OTHER_HANDLE, str(data_dir)], capture_output=True, text=True, timeout=120
        )
        assert other.returncode == 0, other.stderr
        assert _select_one(server.url) == 1  # a new connection still finds the socket
    finally:
        server.stop()


@pytest.mark.parametrize("prefer", ["pgserver", "system"])
def test_a_planted_socket_directory_is_refused(tmp_path: Path, prefer: str) -> None:
    if prefer == "system" and postgres._system_bin_dir() is None:
        pytest.skip("no PostgreSQL binaries on this machine: covered by the test above")
    data_dir = tmp_path / DEEP / "data"
    server = embedded_postgres(data_dir, prefer=prefer)
    planted = postgres._short_socket_dir(data_dir)
    assert planted is not None
    # Someone got to the predictable name in /tmp first, with a symlink to their own directory.
    planted.symlink_to(tmp_path)
    try:
        with pytest.raises(PostgresUnavailable, match="exists and is not ours"):
            server.start()
        assert not (data_dir / "postmaster.pid").exists()
    finally:
        planted.unlink()
        server.stop()


def test_without_database_url_an_embedded_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with running_postgres() as url:
        assert "host=/" in url  # a Unix socket in the server's own directory
        assert _select_one(url) == 1
    with pytest.raises(OperationalError):
        _select_one(url)


def test_database_url_overrides_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    with running_postgres(data_dir=tmp_path / "unused") as url:
        assert url == postgres_url
        assert _select_one(url) == 1
    assert not (tmp_path / "unused").exists(), "no embedded server may start when DATABASE_URL is set"


def test_no_postgres_anywhere_says_to_set_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # as if no pgserver wheel fits this Python
    monkeypatch.setattr(postgres, "_system_bin_dir", lambda: None)
    with pytest.raises(PostgresUnavailable, match="Set DATABASE_URL"):
        embedded_postgres(tmp_path / "data")
