"""A revision the migration lint's safe route writes: `CREATE INDEX CONCURRENTLY` in an autocommit block.

`migrate()` given a URL or an Engine lets Alembic own the transaction, so the block can commit
it; given a Connection in the caller's transaction it refuses in one line naming the revision.
`check` migrates scratch databases the same way.
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from schema_helpers import PROJECT

CLI = str(Path(sys.executable).parent / "orm-models")
REPO = PROJECT.parent
INDEX = "ix_person_family_name"

_UPGRADE = f"""def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("{INDEX}", "person", ["family_name"], unique=False, postgresql_concurrently=True)"""
_DOWNGRADE = f"""def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("{INDEX}", table_name="person", postgresql_concurrently=True)"""

# Run with the scratch tree's orm_models first on the path: its revisions are the ones applied.
_MIGRATE_THREE_WAYS = f"""
import json, sys
import sqlalchemy as sa
from orm_models import migrate
from orm_models.migrate import AutocommitInCallerTransactionError, downgrade

url = sys.argv[1]
engine = sa.create_engine(url, poolclass=sa.NullPool)
VALID = "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = '{INDEX}'"

def valid():
    with engine.connect() as connection:
        return connection.execute(sa.text(VALID)).scalar()

seen = {{}}
migrate(url)
seen["url"] = valid()
downgrade(engine, "expand@-1")
seen["downgraded"] = valid()
migrate(engine)
seen["engine"] = valid()
downgrade(url, "expand@-1")
with engine.connect() as connection, connection.begin():
    try:
        migrate(connection)
    except AutocommitInCallerTransactionError as error:
        seen["connection"] = str(error)
seen["after_refusal"] = valid()
print(json.dumps(seen))
"""


@pytest.fixture
def tree_with_concurrent_index(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the orm-models tree plus an expand revision indexing person.family_name concurrently."""
    root = tmp_path / "orm-models"
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "schema-baseline.json"):
        shutil.copy2(PROJECT / name, root / name)
    result = subprocess.run(
        [CLI, "revision", "-m", "index person family name", "--phase", "expand"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    versions = root / "src" / "orm_models" / "migrations" / "versions"
    [written] = versions.glob("rev_*_index_person_family_name.py")
    body = written.read_text()
    body = re.sub(r"def upgrade\(\) -> None:\n    pass", _UPGRADE, body)
    body = re.sub(r"def downgrade\(\) -> None:\n    pass", _DOWNGRADE, body)
    assert _UPGRADE in body and _DOWNGRADE in body, body
    written.write_text("from alembic import op\n\n" + body)
    people = root / "src" / "orm_models" / "people.py"  # the models say the same: check compares them
    source = people.read_text()
    column = "family_name: Mapped[str | None] = mapped_column(String(100))"
    assert column in source
    people.write_text(source.replace(column, column.replace("String(100))", "String(100), index=True)")))
    revision = re.search(r'^revision: str = "(\w+)"', body, re.MULTILINE)
    assert revision is not None
    return root, revision.group(1)


def test_migrate_applies_a_concurrent_index_from_a_url_or_engine_and_refuses_a_caller_transaction(
    tree_with_concurrent_index: tuple[Path, str], create_database: Callable[[], str]
) -> None:
    tree, revision = tree_with_concurrent_index
    result = subprocess.run(
        [sys.executable, "-c", _MIGRATE_THREE_WAYS, create_database()],
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["url"] is True and seen["engine"] is True  # built, and valid: not a failed CONCURRENTLY
    assert seen["downgraded"] is None
    message = seen["connection"]
    assert f"revision {revision} " in message and "URL or an Engine" in message and "\n" not in message
    assert seen["after_refusal"] is None  # the caller's transaction was rolled back: nothing changed


def test_check_migrates_a_tree_with_a_concurrent_index(tree_with_concurrent_index: tuple[Path, str]) -> None:
    tree, revision = tree_with_concurrent_index
    result = subprocess.run(
        [CLI, "check", "--baseline", "schema-baseline.json", "--current", "src", "--json"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: check itself failed
    report = json.loads(result.stdout)
    assert "failed" not in result.stderr
    assert report["required_bump"] in ("minor", "major"), report  # an index: at least the revision's minor
