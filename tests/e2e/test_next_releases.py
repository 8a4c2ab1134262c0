"""Three successive orm-models releases in a clone, with the README's commands only.

(1) a nullable column: the model edited, `orm-models revision -m ... --phase expand --autogenerate`,
    `python3 noxfile.py -s release -- minor`;
(2) a rename of that column: `orm-models revision --rename person.OLD:NEW` writes its expand
    revision, which ships as a minor (the models map both names); the api moves its range to it
    while the loader's range stays;
(3) `orm-models revision --rename person.OLD:NEW --phase contract` writes its contract (trigger
    and old column dropped), released as a major; the api moves to the new major, the loader
    stays on 2.x; on one database both releases run, the 2.x loader (mapping the old name) still
    writes, and the major's `migrate --contract` refuses while it is live.

No environment override of the release: the only variables are the index's address and
credentials, as CI sets them (TWINE_*, ORM_INDEX_URL, UV_INDEX_PRIVATE_*). After each release
`nox -s compat` installs both services' orm-models from the index by their ranges (lowest and
highest admitted, and the local wheel when admitted) and runs their tests: one test per service
that goes through the installed orm-models and a real migrated database (the loader loads the
shipped sample, the api's /readyz at head). Their whole suites run in `.ci/run` against the same
orm-models; three full runs here would cost ~20 minutes and prove nothing more about releasing.
The cells share one PostgreSQL (DATABASE_URL, a database per test) instead of one embedded
server each.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orm_models.testing.postgres import running_postgres
from tests.e2e.helpers import RECORDED, ROOT, isolated_env, new_venv, run, scratch_clone, uv_bin
from tools.release import releases, version
from tools.release.credentials import Credentials, Target
from tools.release.index import IndexServer
from tools.release.publish import publish
from tools.release.simple import published_files

CLIENT = Path(__file__).with_name("clients") / "client.py"
IDENTITY = "next-releases@example.invalid"
COLUMN, RENAMED = "nickname", "preferred_name"
SERVICE_TESTS = (
    "test_the_shipped_sample_loads_and_prints_the_summary or test_readyz_when_the_schema_is_at_head"
)
ANCHOR = "    email: Mapped[str | None] = mapped_column(String(320), index=True)\n"
RELEASE_TIMEOUT = 900


def _git(repo: Path, *args: str) -> str:
    result = run(["git", "-C", str(repo), *args])
    assert result.returncode == 0, result.output
    return result.output.strip()


@pytest.fixture
def clone() -> Iterator[Path]:
    """Outside pytest's private (0700) tree: run as root, pgserver's `postgres` user must reach it."""
    scratch = Path(tempfile.mkdtemp(prefix="orm-next-releases-"))
    scratch.chmod(0o755)
    try:
        yield scratch_clone(scratch / "clone", IDENTITY, "Next releases test")
    finally:
        _stop_cached_postgres(scratch / "cache")
        shutil.rmtree(scratch, ignore_errors=True)
    assert _git(ROOT, "log", "--all", f"--author={IDENTITY}", "--format=%H") == ""


def _stop_cached_postgres(cache: Path) -> None:
    """`orm-models check` keeps its PostgreSQL running in its cache directory: stop ours (by pid)."""
    for pid_file in cache.glob("orm-models/check-postgres/**/postmaster.pid"):
        pid = int(pid_file.read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            for _ in range(300):
                os.kill(pid, 0)
                time.sleep(0.1)


@pytest.fixture
def index(tmp_path: Path, dists: dict[str, list[Path]]) -> Iterator[tuple[IndexServer, Credentials]]:
    """A fresh index holding the recorded releases (not the e2e fixtures' 3.0.0: this test makes it)."""
    credentials = Credentials("releaser", "next-releases-password")
    with IndexServer(
        packages=tmp_path / "packages",
        credentials=credentials,
        htpasswd=tmp_path / "htpasswd",
        log=tmp_path / "index.log",
    ) as server:
        target = Target(server.url, server.simple_url, credentials)
        for number in RECORDED:
            publish(dists[number], target)
        yield server, credentials


@pytest.fixture
def postgres() -> Iterator[str]:
    """One PostgreSQL for every service test run here (each test still gets a database of its own):
    the compat cells would otherwise start one embedded server each."""
    with running_postgres() as url:
        yield url


def _models(clone: Path) -> Path:
    return clone / "orm-models" / "src" / "orm_models" / "people.py"


def _map_columns(clone: Path, *columns: str) -> None:
    """The Person model maps exactly these extra nullable String(100) columns after `email`."""
    path = _models(clone)
    added_line = r"    (nickname|preferred_name): Mapped\[str \| None\] = mapped_column\(String\(100\)\)\n"
    text = re.sub(added_line, "", path.read_text())
    assert text.count(ANCHOR) == 1, "Person.email moved: update this scenario's anchor"
    added = "".join(f"    {c}: Mapped[str | None] = mapped_column(String(100))\n" for c in columns)
    path.write_text(text.replace(ANCHOR, ANCHOR + added))


def _move_range(clone: Path, service: str, low: str, high: int) -> None:
    pyproject = clone / service / "pyproject.toml"
    text = pyproject.read_text()
    moved = re.sub(r'"orm-models(\[[a-z,]+\])?>=[0-9.]+,<[0-9]+"', rf'"orm-models\1>={low},<{high}"', text)
    assert moved != text, f"{service}: no orm-models range to move"
    pyproject.write_text(moved)


@pytest.mark.long
def test_three_releases_with_documented_commands(
    clone: Path, index: tuple[IndexServer, Credentials], postgres: str
) -> None:
    server, credentials = index
    env = isolated_env(
        # orm-models check's cached PostgreSQL and witnesses in this clone's scratch directory: the
        # machine-wide cache's server may run from another checkout's venv, deleted meanwhile
        # (then plpgsql cannot load). uv's and pip's caches stay where they are (no re-download).
        XDG_CACHE_HOME=str(clone.parent / "cache"),
        UV_CACHE_DIR=run([uv_bin(), "cache", "dir"]).output.strip(),
        PIP_CACHE_DIR=str(Path.home() / ".cache" / "pip"),
        TWINE_REPOSITORY_URL=server.url,
        TWINE_USERNAME=credentials.username,
        TWINE_PASSWORD=credentials.password,
        ORM_INDEX_URL=server.url,
        UV_INDEX_PRIVATE_USERNAME=credentials.username,
        UV_INDEX_PRIVATE_PASSWORD=credentials.password,
    )
    # The README's inner loop (`.venv/bin/pip install -e 'orm-models[test]'`), with uv; [check] too.
    python = new_venv(clone / ".venv")
    dev = run([uv_bin(), "pip", "install", "--quiet", "--python", str(python), "-e",
               f"{clone / 'orm-models'}[test,check]"], env=env)  # fmt: skip
    assert dev.returncode == 0, dev.output
    cli = str(clone / ".venv" / "bin" / "orm-models")
    nox = [sys.executable, "-m", "nox", "-f", str(clone / "noxfile.py")]

    def command(*argv: str, database_url: str | None = None) -> str:
        extra = {"PATH": f"{clone / '.venv' / 'bin'}:{env['PATH']}"}
        if database_url:
            extra["DATABASE_URL"] = database_url
        result = run(list(argv), cwd=clone, env=env | extra, timeout=RELEASE_TIMEOUT)
        assert result.returncode == 0, f"{argv} failed:\n{result.output[-6000:]}"
        assert credentials.password not in result.output
        return result.output

    def release(part: str) -> str:
        expected = version.bump(version.read(clone), part)
        output = command(*nox, "-s", "release", "--", part)
        assert "release-critical tests (-m release)" in output, output[-3000:]
        on_index = published_files(server.simple_url, "orm-models", credentials)
        assert f"orm_models-{expected}-py3-none-any.whl" in on_index
        assert version.read(clone) == expected
        assert _git(clone, "status", "--porcelain") == ""
        return expected

    def services_pass(expected: dict[str, str]) -> None:
        """compat: each service from the index by its range; the highest admitted is `expected`."""
        output = command(*nox, "-s", "compat", "--", "--", "-k", SERVICE_TESTS, database_url=postgres)
        rows = [line for line in output.splitlines() if re.search(r"(loader|api)-service\s+\d", line)]
        print(*rows, sep="\n")
        for service, number in expected.items():
            assert any(service in r and f"{number} (" in r and "passed" in r for r in rows), (service, rows)
        assert not any("FAILED" in r or "failed" in r for r in rows), rows

    def commit(message: str) -> None:
        _git(clone, "add", "-A")
        _git(clone, "commit", "--quiet", "-m", message)

    # (1) A new nullable column, released as a minor.
    _map_columns(clone, COLUMN)
    written = command(cli, "revision", "-m", f"add person {COLUMN}", "--phase", "expand", "--autogenerate")
    assert "pending: minor" in command(cli, "check"), written
    commit(f"orm-models: person.{COLUMN}")
    first = release("minor")
    services_pass({"loader-service": first, "api-service": first})

    # (2) The rename's expand as a minor: the models map both names; the contract waits for (3).
    before = set((clone / releases.VERSIONS_DIR).glob("rev_*.py"))
    written = command(cli, "revision", "--rename", f"person.{COLUMN}:{RENAMED}")
    (expand,) = set((clone / releases.VERSIONS_DIR).glob("rev_*.py")) - before
    assert expand.name.endswith("_expand.py"), expand
    contract_command = f"orm-models revision --rename person.{COLUMN}:{RENAMED} --phase contract"
    assert contract_command in written, written  # what it says to run for (3)
    _map_columns(clone, COLUMN, RENAMED)
    commit(f"orm-models: person.{COLUMN} -> {RENAMED}, expand")
    second = release("minor")
    # The api moves to the release that knows the new name; the loader's range stays as it was.
    _move_range(clone, "api-service", second, version.parse(second).major + 1)
    commit(f"api-service: orm-models>={second} (person.{RENAMED})")
    services_pass({"loader-service": second, "api-service": second})

    # (3) The contract as a major: the models map the new name only. The api moves to the major;
    # the loader stays on the minor that maps both names, and the contract waits for it.
    command(cli, *contract_command.split()[1:])
    _map_columns(clone, RENAMED)
    commit(f"orm-models: person.{COLUMN} -> {RENAMED}, contract")
    third = release("major")
    assert version.parse(third).major == version.parse(second).major + 1
    _move_range(clone, "api-service", third, version.parse(third).major + 1)
    commit(f"api-service: orm-models>={third} (the contract)")
    services_pass({"loader-service": second, "api-service": third})
    _contract_waits_for_the_loader(clone, server, credentials, postgres, second, third)


def _contract_waits_for_the_loader(
    clone: Path, server: IndexServer, credentials: Credentials, server_url: str, loader_on: str, api_on: str
) -> None:
    """Both releases from the index on one database: the 2.x loader (mapping the old name) keeps
    writing to the expanded schema, and the major's `migrate --contract` refuses while it is live."""
    env = isolated_env(
        UV_INDEX_PRIVATE_USERNAME=credentials.username, UV_INDEX_PRIVATE_PASSWORD=credentials.password
    )
    pythons = {}
    for number in (loader_on, api_on):
        python = new_venv(clone.parent / f"client-{number}")
        installed = run([uv_bin(), "pip", "install", "--quiet", "--python", str(python),
                         "--index", f"private={server.simple_url}", "--index-strategy", "first-index",
                         f"orm-models=={number}"], env=env)  # fmt: skip
        assert installed.returncode == 0, installed.output
        pythons[number] = python

    def call(python: Path, *argv: str, url: str, code: int = 0) -> str:
        result = run([str(python), *argv], env=isolated_env(DATABASE_URL=url))
        assert result.returncode == code, result.output
        return result.output

    major = pythons[api_on].with_name("orm-models")
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text('DROP DATABASE IF EXISTS "e2e_next_releases" WITH (FORCE)'))
        connection.execute(sa.text('CREATE DATABASE "e2e_next_releases"'))
    admin.dispose()
    url = sa.make_url(server_url).set(database="e2e_next_releases").render_as_string(hide_password=False)
    # The database as the 2.x release left it (a fresh one would take every contract at once).
    call(pythons[loader_on].with_name("orm-models"), "migrate", "--database-url", url, url=url)
    held = call(major, "migrate", "--database-url", url, url=url)
    assert "stopped before contract revision" in held, held
    assert "registered" in call(
        pythons[loader_on], str(CLIENT), "start", "loader-service", "nightly", url=url
    )
    assert "registered" in call(pythons[api_on], str(CLIENT), "start", "api-service", "web-1", url=url)
    assert "wrote 3 people" in call(
        pythons[loader_on], str(CLIENT), "write", "loader-service", "l", "3", url=url
    )
    refused = call(major, "migrate", "--contract", "--database-url", url, url=url, code=1)
    assert "refused" in refused, refused
    [row] = [line for line in refused.splitlines() if line.startswith("loader-service")]
    assert loader_on in row, row
    assert f"person.{COLUMN}" in row, row
