"""A revision the migration lint's safe route writes: `CREATE INDEX CONCURRENTLY` in an autocommit block.

`migrate()` given a URL or an Engine lets Alembic own the transaction, so the block can commit
it; given a Connection in the caller's transaction it refuses in one line naming the revision.
`check` migrates scratch databases the same way.
"""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from schema_helpers import tree_with_revision

CLI = str(Path(sys.executable).parent / "orm-models")
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
VALID = (
    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relname = '{INDEX}'"
)

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
    root, revision = tree_with_revision(tmp_path, "index person family name", _UPGRADE, _DOWNGRADE)
    people = root / "src" / "orm_models" / "people.py"  # the models say the same: check compares them
    source = people.read_text()
    column = "family_name: Mapped[str | None] = mapped_column(String(100))"
    assert column in source
    people.write_text(source.replace(column, column.replace("String(100))", "String(100), index=True)")))
    return root, revision


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
    assert seen["url"] is True  # built, and valid: not a failed CONCURRENTLY
    assert seen["engine"] is True
    assert seen["downgraded"] is None
    message = seen["connection"]
    assert f"revision {revision} " in message
    assert "URL or an Engine" in message
    assert "\n" not in message
    assert seen["after_refusal"] is None  # the caller's transaction was rolled back: nothing changed


def test_check_migrates_a_tree_with_a_concurrent_index(tree_with_concurrent_index: tuple[Path, str]) -> None:
    tree, _revision = tree_with_concurrent_index
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
