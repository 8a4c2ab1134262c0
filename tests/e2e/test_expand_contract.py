"""The README's rename story with real releases: registry, contract gate, guard, no lost write.

Clients are real programs (clients/client.py) in their own venvs, each with the orm-models
release it names installed from the private index by uv. PostgreSQL is the embedded one of
orm_models.testing (or DATABASE_URL).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orm_models.testing.postgres import running_postgres
from tests.e2e.helpers import HIGHEST_2X, ROOT, isolated_env, run, uv_bin
from tools.release import releases
from tools.release.credentials import Credentials
from tools.release.index import IndexServer

CLIENT = Path(__file__).with_name("clients") / "client.py"
V1, V1_0, V2 = "1.1.0", "1.0.0", HIGHEST_2X


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


def _new_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def venvs(
    work: Path, published: dict[str, list[Path]], private_index: IndexServer, credentials: Credentials
) -> dict[str, Path]:
    """One venv per release, orm-models installed from the private index (only orm-models from it)."""
    pythons: dict[str, Path] = {}
    env = isolated_env(
        UV_INDEX_PRIVATE_USERNAME=credentials.username, UV_INDEX_PRIVATE_PASSWORD=credentials.password
    )
    for version in (V1_0, V1, V2):
        venv = work / f"client-{version}"
        created = run([uv_bin(), "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)])
        assert created.returncode == 0, created.output
        python = venv / "bin" / "python"
        result = run(
            [
                uv_bin(), "pip", "install", "--quiet", "--python", str(python),
                "--index", f"private={private_index.simple_url}", "--index-strategy", "first-index",
                f"orm-models=={version}",
            ],
            env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.output
        pythons[version] = python
    return pythons


def _client(python: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(CLIENT), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=isolated_env(DATABASE_URL=url),
        check=False,
    )


def _orm_models(python: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `orm-models` console script of that venv (the operator's command)."""
    return subprocess.run(
        [str(python.with_name("orm-models")), *args, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=240,
        env=isolated_env(),
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _columns(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("person")}
    finally:
        engine.dispose()


def test_rename_across_independently_deployed_services(server_url: str, venvs: dict[str, Path]) -> None:
    url = _new_database(server_url, "e2e_rename_story")
    v1, v2 = venvs[V1], venvs[V2]

    # Yesterday: the database and its loader on 1.1.0.
    _ok(_orm_models(v1, url, "migrate"))
    _ok(_client(v1, url, "write", "client-1x", "old", "8"))

    # The 2.x release's routine migrate: expand only, the contract is held back.
    held = _ok(_orm_models(v2, url, "migrate"))
    assert "stopped before contract revision 0003" in held
    # 1.1.0's own migrate now finds a revision it does not ship; documented outcome (README).
    stale_migrate = _orm_models(v1, url, "migrate")
    assert stale_migrate.returncode != 0
    assert "Can't locate revision identified by '0002c'" in stale_migrate.stderr

    # Both clients start, register, write, and read each other's rows.
    assert "registered as nightly" in _ok(_client(v1, url, "start", "client-1x", "nightly"))
    assert "registered as web-1" in _ok(_client(v2, url, "start", "client-2x", "web-1"))
    _ok(_client(v1, url, "write", "client-1x", "mid", "4"))
    _ok(_client(v2, url, "write", "client-2x", "new", "8"))
    seen_by_1x = json.loads(_ok(_client(v1, url, "read")))
    seen_by_2x = json.loads(_ok(_client(v2, url, "read")))
    assert seen_by_1x == seen_by_2x | {
        k: v | {"last_name": seen_by_1x[k]["last_name"]} for k, v in seen_by_2x.items()
    }
    assert {k: v["family"] for k, v in seen_by_1x.items()} == {k: v["family"] for k, v in seen_by_2x.items()}
    assert seen_by_2x["new-1"]["family"] == "New1"
    assert seen_by_1x["new-1"]["last_name"] == "New1"
    assert seen_by_2x["old-0"]["family"] is None  # a 1.x mononym reads as None on 2.x
    assert seen_by_1x["new-0"]["last_name"] == ""  # a 2.x mononym reads as '' on 1.x

    # The contract is refused while the 1.x client is live, naming it, its version and the column.
    refused = _orm_models(v2, url, "migrate", "--contract")
    assert refused.returncode == 1
    assert "contract revision 0003 refused" in refused.stderr
    [row] = [line for line in refused.stdout.splitlines() if line.startswith("client-1x")]
    assert row.split()[:3] == ["client-1x", "nightly", V1]
    assert row.endswith("person.last_name")
    assert "client-2x" not in refused.stdout
    assert "last_name" in _columns(url)  # nothing dropped
    status = json.loads(_ok(_orm_models(v2, url, "status", "--json")))
    assert {c["service"]: c["live"] for c in status["clients"]} == {"client-1x": True, "client-2x": True}
    short = json.loads(_ok(_orm_models(v2, url, "status", "--json", "--live-window", "0s")))
    assert next(p for p in short["pending"] if p["phase"] == "contract")["gate_passes"] is True

    # The 1.x client moves to 2.x (same service and instance): the gate opens.
    _ok(_client(v2, url, "start", "client-1x", "nightly"))
    _ok(_orm_models(v2, url, "migrate", "--contract"))
    assert "last_name" not in _columns(url)

    # A 1.x client left behind refuses to start, naming the column; 2.x clients go on.
    late = _client(v1, url, "start", "client-1x", "laggard")
    assert late.returncode == 4
    assert "person.last_name" in late.stderr
    assert "refusing to start" in late.stderr
    _ok(_client(v2, url, "start", "client-2x", "web-1"))

    # Nothing written by either client was lost across the story.
    final = json.loads(_ok(_client(v2, url, "read")))
    assert len(final) == 8 + 4 + 8
    assert {k: v["family"] for k, v in final.items()} == {k: v["family"] for k, v in seen_by_2x.items()}


POOL, OPS = 24, 60
WRITERS = [(V1_0, 1), (V1_0, 2), (V1, 3), (V1, 4), (V2, 5), (V2, 6)]


def test_concurrent_writers_of_every_release_lose_nothing(server_url: str, venvs: dict[str, Path]) -> None:
    """1.0.0, 1.1.0 and the newest 2.x write the same people at once; every write is audited."""
    url = _new_database(server_url, "e2e_writers")
    _ok(_orm_models(venvs[V1], url, "migrate"))
    _ok(_client(venvs[V1], url, "write", "seed", "pool", str(POOL)))  # via 1.1.0: '' mononyms, pre-bridge
    _ok(_orm_models(venvs[V2], url, "migrate"))  # the expand state every release writes through
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE write_audit (id bigserial PRIMARY KEY, external_id text NOT NULL, "
                "field text NOT NULL, value text, writer text NOT NULL)"
            )
        )
        seeded: dict[str, str | None] = dict(
            connection.execute(sa.text("SELECT external_id, family_name FROM person")).all()
        )
        given: dict[str, str | None] = dict(
            connection.execute(sa.text("SELECT external_id, given_name FROM person")).all()
        )

    processes = [
        subprocess.Popen(
            [str(venvs[version]), str(CLIENT), "writers", str(seed), str(OPS), str(POOL)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=isolated_env(DATABASE_URL=url),
        )
        for version, seed in WRITERS
    ]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [p.returncode for p in processes] == [0] * len(WRITERS), [err for _, err in outputs]
    assert sum(json.loads(out)["writes"] for out, _ in outputs) == OPS * len(WRITERS)

    with engine.connect() as connection:
        audit = connection.execute(
            sa.text("SELECT external_id, field, value FROM write_audit ORDER BY id")
        ).all()
        rows = connection.execute(
            sa.text("SELECT external_id, given_name, last_name, family_name FROM person")
        )
        final = {r.external_id: r for r in rows}
    engine.dispose()

    expected_family = {k: (v or None) for k, v in seeded.items()}
    expected_given: dict[str, str | None] = dict(given)
    for row in audit:  # for one person, audit order is commit order (its row lock serialises them)
        target = expected_family if row.field == "family" else expected_given
        target[str(row.external_id)] = None if row.value is None else str(row.value)
    lost = {
        k: (final[k].family_name, final[k].given_name, expected_family[k], expected_given[k])
        for k in expected_family
        if (final[k].family_name, final[k].given_name) != (expected_family[k], expected_given[k])
    }
    assert lost == {}, f"{len(lost)} of {len(audit)} audited writes lost: {lost}"
    assert set(final) == set(expected_family)  # no row lost or invented
    inconsistent = [k for k, r in final.items() if r.last_name != (r.family_name or "")]
    assert inconsistent == []


OPERATOR = Path(sys.executable).with_name("orm-models")
"""This tree's `orm-models` (the e2e session installs it): the gate that observes clients."""


def _operator(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPERATOR), *args, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=240,
        env=isolated_env(),
        check=False,
    )


def _loop_writes(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session of this test stays open
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM person WHERE external_id LIKE 'loop-%' AND last_name LIKE 'Loop%'"
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def _wait_for_writes(url: str, more_than: int, writer: subprocess.Popen[str]) -> int:
    """Until the writer has written more than `more_than` people (it failing ends the wait)."""
    while writer.poll() is None:
        count = _loop_writes(url)
        if count > more_than:
            return count
        time.sleep(0.05)
    raise AssertionError(f"the 1.x writer stopped: {writer.communicate()}")


def test_an_unregistered_1x_client_blocks_the_contract_until_it_has_been_gone_a_window(
    server_url: str, venvs: dict[str, Path], tmp_path: Path
) -> None:
    """A 1.x service nobody touched (no registration; only PGAPPNAME set) keeps writing last_name:
    the gate sees it in pg_stat_activity, refuses and names it; once it has been gone longer than
    the live window, the contract runs."""
    url = _new_database(server_url, "e2e_unregistered")
    _ok(_orm_models(venvs[V1], url, "migrate"))
    assert "stopped before contract revision" in _ok(_operator(url, "migrate"))

    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [str(venvs[V1]), str(CLIENT), "loop", str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=isolated_env(DATABASE_URL=url, PGAPPNAME="nightly-1x"),
    )
    try:
        written = _wait_for_writes(url, 0, writer)
        refused = _operator(url, "migrate", "--contract")
        print(refused.stderr + refused.stdout)  # shown with -rP
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused" in refused.stderr
        [row] = [line for line in refused.stdout.splitlines() if line.startswith("nightly-1x")]
        assert "not registered" in row
        assert "person.last_name" in row
        last_seen = refused.stdout.splitlines()[0].index("last seen")
        assert row[last_seen : last_seen + 4].isdigit()  # when: a date, e.g. 2026-12-06 17:30:01 UTC
        assert "last_name" in _columns(url)
        status = _ok(_operator(url, "status"))
        assert "nightly-1x" in status
        assert "without registering" in status
        _wait_for_writes(url, written, writer)  # refused, and the 1.x client never noticed
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=240)
    assert writer.returncode == 0, err
    assert json.loads(out)["writes"] > 0

    # A short window by the documented option (services that heartbeat every 2 s), then waited out.
    window = ("--heartbeat-interval", "2s", "--live-window", "2s")
    time.sleep(2.5)
    _ok(_operator(url, "migrate", "--contract", *window))
    assert "last_name" not in _columns(url)


_NEXT_EXPAND = '''"""The next minor's expand revision (test only): a nullable column."""

import sqlalchemy as sa
from alembic import op

revision: str = "9100"
down_revision: str | None = "{down}"
branch_labels = None
depends_on = None

phase = "expand"


def upgrade() -> None:
    op.add_column("person", sa.Column("scratch_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("person", "scratch_note")
'''


def _next_minor(tmp_path: Path) -> Path:
    """This tree's orm_models plus one expand revision after the expand head: the next minor."""
    src = tmp_path / "next-minor" / "src"
    shutil.copytree(ROOT / "orm-models" / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    down = releases.branch_heads(ROOT)["expand"]
    (src / "orm_models" / "migrations" / "versions" / "rev_9100_next_expand.py").write_text(
        _NEXT_EXPAND.format(down=down), encoding="utf-8"
    )
    return src


def _next_minor_cli(src: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`orm-models ARGS` run on that tree (its orm_models first on the path)."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from orm_models.cli import main; sys.exit(main(sys.argv[1:]))",
         *args, "--database-url", url],
        capture_output=True, text=True, timeout=240, env=isolated_env(PYTHONPATH=str(src)), check=False,
    )  # fmt: skip


def test_released_clients_on_a_database_a_later_expand_reached(
    server_url: str, venvs: dict[str, Path], tmp_path: Path
) -> None:
    """Contract held back for 1.x: the next minor's expand still arrives, 1.1.0 and 2.x keep running.

    Alembic keeps two heads once contracts ran; releases up to 2.4 read `alembic_version` and fail
    on two rows, so it keeps one (orm_models.version_state): their guard passes, their migrate
    refuses the revision they do not ship.
    """
    url = _new_database(server_url, "e2e_next_minor")
    v1, v2 = venvs[V1], venvs[V2]
    src = _next_minor(tmp_path)
    _ok(_orm_models(v1, url, "migrate"))  # 1.1.0's database, its loader live
    _ok(_next_minor_cli(src, url, "migrate"))  # expand only: the contract waits for 1.x
    assert {"last_name", "scratch_note"} <= _columns(url)
    _ok(_client(v1, url, "start", "client-1x", "loader-1"))
    _ok(_client(v2, url, "start", "client-2x", "web-1"))
    stale = _orm_models(v2, url, "migrate")
    assert stale.returncode == 1
    assert "which orm-models" in stale.stderr
    assert "does not ship" in stale.stderr

    # 1.x retired: the contract runs (forced past the registration the 1.x client left).
    _ok(_next_minor_cli(src, url, "migrate", "--contract", "--force", "--reason", "e2e: 1.x retired"))
    assert "last_name" not in _columns(url)
    _ok(_client(v2, url, "start", "client-2x", "web-1"))  # two heads now: 2.x reads one row
    _ok(_client(v2, url, "read"))
