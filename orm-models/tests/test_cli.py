"""The `orm-models` console script, run as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

# The console script installed beside the interpreter running the tests.
CLI = str(Path(sys.executable).parent / "orm-models")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def test_migrate_reads_database_url(create_database: Any) -> None:
    url = create_database()
    result = _cli("migrate", env={**os.environ, "DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "migrated" in result.stdout
    assert _cli("current", "--database-url", url).stdout.strip() == "0004"
    engine = sa.create_engine(url)
    assert {"organization", "person"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_unreachable_database_is_a_clear_error_without_the_password() -> None:
    url = "postgresql+psycopg2://loader:s3cret-pw@127.0.0.1:1/app"
    result = _cli("migrate", "--database-url", url)
    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_missing_database_url_is_a_usage_error() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = _cli("migrate", env=env)
    assert result.returncode != 0
    assert "set DATABASE_URL" in result.stderr


def test_migrate_names_the_contract_revision_it_holds_back(create_database: Any) -> None:
    url = create_database()
    assert _cli("migrate", "--database-url", url, "--revision", "0002").returncode == 0
    held = _cli("migrate", "--database-url", url)
    assert held.returncode == 0, held.stderr
    assert "stopped before contract revision 0003" in held.stdout
    assert "person.last_name" in held.stdout
    assert _cli("current", "--database-url", url).stdout.strip() == "0002c"  # the expand bridge ran
    assert _cli("migrate", "--database-url", url, "--contract").returncode == 0
    assert _cli("current", "--database-url", url).stdout.strip() == "0004"
