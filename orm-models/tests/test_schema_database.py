"""The verdict from a migrated database: raw-SQL constraints count, and drift from the models exits 2."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from schema_helpers import PROJECT
from sqlalchemy import Engine, MetaData

from orm_models.schema import lint_revisions, revision_sources
from orm_models.schema.lint import head_of
from orm_models.schema.tables import table_facts

CLI = str(Path(sys.executable).parent / "orm-models")
BASELINE = PROJECT / "schema-baseline.json"

_RAW_CHECK = '''"""A CHECK the models do not declare, added by raw SQL only."""

from alembic import op

revision = "9001"
down_revision = {down!r}
phase = "expand"


def upgrade() -> None:
    op.execute("ALTER TABLE person ADD CONSTRAINT ck_person_email_at CHECK (email LIKE '%@%') NOT VALID")
    op.execute("ALTER TABLE person VALIDATE CONSTRAINT ck_person_email_at")


def downgrade() -> None:
    op.execute("ALTER TABLE person DROP CONSTRAINT ck_person_email_at")
'''


def test_a_raw_sql_check_raises_the_bump_and_the_drift_exits_2(tmp_path: Path, postgres_url: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(PROJECT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    head = head_of(lint_revisions(revision_sources(src)))
    versions = src / "orm_models" / "migrations" / "versions"
    (versions / "rev_9001_raw_check.py").write_text(_RAW_CHECK.format(down=head), encoding="utf-8")

    result = subprocess.run(
        [CLI, "check", "--baseline", str(BASELINE), "--current", str(src), "--database-url", postgres_url,
         "--version", "99.0.0", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {(c["kind"], c["subject"]): c for c in report["changes"]}
    check = found[("add_check", "person:ck_person_email_at")]
    assert check["bump"] == "major"
    assert "in the migrated database only" in check["detail"]
    assert report["database_compared"] is True
    assert any("ck_person_email_at" in line for line in report["drift"]), report["drift"]


_TOOL_TABLE = '''"""A tooling table: created by the migrations, declared outside Base.metadata."""

from alembic import op
import sqlalchemy as sa

revision = "9002"
down_revision = {down!r}
phase = "expand"


def upgrade() -> None:
    op.create_table("tool_state", sa.Column("key", sa.String(50), primary_key=True))


def downgrade() -> None:
    op.drop_table("tool_state")
'''


def test_tooling_tables_outside_base_metadata_count_as_modelled(tmp_path: Path, postgres_url: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(PROJECT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    head = head_of(lint_revisions(revision_sources(src)))
    package = src / "orm_models"
    (package / "migrations" / "versions" / "rev_9002_tool_state.py").write_text(
        _TOOL_TABLE.format(down=head), encoding="utf-8"
    )
    args = [CLI, "check", "--baseline", str(BASELINE), "--current", str(src), "--database-url", postgres_url,
            "--version", "99.0.0", "--json"]  # fmt: skip

    (package / "tool_state.py").write_text(
        "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"
        'state = sa.Table("tool_state", metadata, sa.Column("key", sa.String(50), primary_key=True))\n',
        encoding="utf-8",
    )
    with (package / "__init__.py").open("a", encoding="utf-8") as init:
        init.write("from orm_models import tool_state as tool_state  # noqa: E402\n")
    declared = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert declared.returncode == 0, declared.stdout + declared.stderr
    report = json.loads(declared.stdout)
    assert report["drift"] == []
    added = {(c["kind"], c["subject"]) for c in report["changes"]}
    assert ("add_table", "tool_state") in added  # seen in the migrated database, a minor change


def test_what_a_reflected_table_records_does_not_depend_on_how_it_was_reached(
    migrated_engine: Engine,
) -> None:
    """`organization` read on its own, or reached through person's foreign key, is the same fact set.

    SQLAlchemy records reflection options (`postgresql_ignore_search_path`) on a table reached
    through a foreign key only; such a difference once showed up as drift between two migrated
    databases whose tables happened to be reflected in another order.
    """

    def organization_facts(only: list[str]) -> dict[str, Any]:
        metadata = MetaData()
        metadata.reflect(migrated_engine, only=only)
        return table_facts(metadata.tables["organization"])

    assert organization_facts(["person"]) == organization_facts(["organization"])
