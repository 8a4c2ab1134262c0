"""The `orm-models` console script, run as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from released import FIRST_CONTRACT, LAST_1X_HEAD

from orm_models import cli, head_revision
from orm_models.cli import main
from orm_models.migrate import branch_heads, scripts
from orm_models.version_state import reduce_heads

# The console script installed beside the interpreter running the tests.
CLI = str(Path(sys.executable).parent / "orm-models")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def test_migrate_reads_database_url(create_database: Any) -> None:
    url = create_database()
    result = _cli("migrate", env={**os.environ, "DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "migrated" in result.stdout
    assert _cli("current", "--database-url", url).stdout.strip() == head_revision()
    engine = sa.create_engine(url)
    assert {"organization", "person"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def _one_line_error(result: subprocess.CompletedProcess[str], status: int, expected: str) -> None:
    """Exit `status`, one line on stderr that says `expected`, no traceback, no password."""
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_unreachable_database_is_an_operational_failure_not_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg2://loader:s3cret-pw@127.0.0.1:1/app"
    _one_line_error(_cli("migrate", "--database-url", url), 1, "cannot reach the database")
    assert main(["current", "--database-url", url]) == 1
    assert "cannot reach the database" in capsys.readouterr().err


def test_missing_database_url_is_a_usage_error() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    _one_line_error(_cli("migrate", env=env), 2, "set DATABASE_URL")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", "not a valid database URL"),
        ("postgresql://loader:s3cret-pw@db:port/app", "not a valid database URL"),
        ("mysql://loader:s3cret-pw@db/app", "not installed"),
        ("postgresql+psycopg://loader:s3cret-pw@db/app", "not installed"),  # psycopg 3: not a dependency
    ],
)
def test_bad_database_url_is_a_usage_error(
    url: str, expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["current", "--database-url", url]) == 2
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.count("orm-models: DATABASE_URL") == 2
    assert expected in err
    assert "s3cret-pw" not in err


def test_unknown_revision_is_a_usage_error_checked_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg2://loader:s3cret-pw@127.0.0.1:1/app"  # never reached
    assert main(["migrate", "--revision", "nonsense", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orm-models: unknown revision 'nonsense'")
    assert "0001, 0002" in err  # what it could have been


def test_a_database_at_a_revision_this_package_does_not_ship(create_database: Any) -> None:
    """A database migrated by a newer release: an operational failure named in one line."""
    url = create_database()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('0099')"))
    engine.dispose()
    _one_line_error(_cli("migrate", "--database-url", url), 1, "0099")


def test_a_statement_the_database_refuses_is_one_line(
    create_database: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = create_database()
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # in the way of revision 0001
        connection.execute(sa.text("CREATE TABLE organization (id int)"))
    engine.dispose()
    assert main(["migrate", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("orm-models: the database refused a statement: ")
    assert 'relation "organization" already exists' in err
    assert len(err.strip().splitlines()) == 1


def test_interrupt_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_arguments: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_current", interrupted)
    assert main(["current"]) == 130
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv", [[], ["migrate", "--no-such-option"], ["revision", "--phase", "sideways", "-m", "x"]]
)
def test_argument_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_help_of_each_command_keeps_its_line_breaks(capsys: pytest.CaptureFixture[str]) -> None:
    top = _help([], capsys)
    assert "\nExit status:\n  0  done" in top
    for command in ("migrate", "current", "revision", "check", "changelog", "manifest"):
        assert f"    {command}" in top  # listed with its one-line summary
        page = _help([command], capsys)
        assert page.startswith(f"usage: orm-models {command}")
        assert "Exit status:" not in page  # its own description, not the module's
    migrate_page = _help(["migrate"], capsys)
    assert (
        "The revisions form two Alembic branches, expand and contract. Every pending expand\n" in migrate_page
    )


def test_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """`orm-models check --json | head -c 10`: no BrokenPipeError, no "Exception ignored"."""
    baseline = str(Path(__file__).resolve().parents[1] / "schema-baseline.json")
    with subprocess.Popen(
        [CLI, "check", "--json", "--baseline", baseline], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as reader_gone:
        assert reader_gone.stdout is not None
        assert reader_gone.stderr is not None
        reader_gone.stdout.close()  # before the command has printed anything
        stderr = reader_gone.stderr.read().decode()
        assert reader_gone.wait(timeout=120) == 1
    assert stderr == ""

    piped = subprocess.run(  # noqa: S602 - the shell pipeline is what is tested; every part is ours
        f"'{CLI}' check --json --baseline '{baseline}' | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert piped.stdout.startswith("{")
    assert piped.stderr == ""


def test_migrate_names_the_contract_revision_it_holds_back(create_database: Any) -> None:
    url = create_database()
    assert _cli("migrate", "--database-url", url, "--revision", LAST_1X_HEAD).returncode == 0
    held = _cli("migrate", "--database-url", url)
    assert held.returncode == 0, held.stderr
    assert f"stopped before contract revision {FIRST_CONTRACT}" in held.stdout
    assert "person.last_name" in held.stdout
    status = json.loads(_cli("status", "--json", "--database-url", url).stdout)
    assert status["database_revision"] == head_revision()  # every expand revision ran
    assert branch_heads()["contract"] not in status["database_heads"]
    assert _cli("migrate", "--database-url", url, "--contract").returncode == 0
    status = json.loads(_cli("status", "--json", "--database-url", url).stdout)
    # Every head ran: the branch heads, minus any another one needs (a contract's depends_on).
    assert frozenset(status["database_heads"]) == reduce_heads(frozenset(branch_heads().values()), scripts())
