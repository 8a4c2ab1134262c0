"""Witnesses: breaking changes no compared fact covers are caught by running code; equivalences are not.

The previous release is built once for this module, from the commit `releases.toml` records, into a
private cache (the module's XDG_CACHE_HOME): that is the path a machine without the index takes.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from schema_helpers import PROJECT

from orm_models.migrate import branch_heads
from orm_models.schema import Bump, bumped
from orm_models.schema.manifest import loads
from orm_models.schema.witnesses import NEW_CODE, OLD_CODE, WitnessReport, compare_runs, run_witnesses
from orm_models.testing import postgres

CLI = str(Path(sys.executable).parent / "orm-models")
BASELINE = PROJECT / "schema-baseline.json"
BASELINE_MANIFEST = loads(BASELINE.read_text(encoding="utf-8"), source=str(BASELINE))


@pytest.fixture(scope="module", autouse=True)
def witness_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache of this module's own: the previous release is built (once) from its commit."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        patch.delenv("ORM_INDEX_URL", raising=False)
        patch.delenv("DATABASE_URL", raising=False)
        yield cache


def _tree(tmp_path: Path, revisions: dict[str, str] | None = None) -> Path:
    """A copy of this package's `src` with `revisions` (file stem -> source) after their branch's head."""
    src = tmp_path / "src"
    shutil.copytree(PROJECT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    # Each revision goes after its own branch's head: expand after expand, contract after contract.
    heads = dict(branch_heads())
    versions = src / "orm_models" / "migrations" / "versions"
    for number, (stem, source) in enumerate((revisions or {}).items(), start=9100):
        phase = "contract" if 'phase = "contract"' in source else "expand"
        text = source.format(revision=str(number), down=heads[phase])
        if phase == "contract" and "depends_on" not in text:
            # As `orm-models revision --phase contract` writes it: after every expand so far (a
            # later expand of the tree may still use what this contract drops).
            text = text.replace(f'down_revision = "{heads[phase]}"\n', f'down_revision = "{heads[phase]}"\n'
                                f'depends_on = "{heads["expand"]}"\n', 1)  # fmt: skip
        (versions / f"rev_{number}_{stem}.py").write_text(text, encoding="utf-8")
        heads[phase] = str(number)
    return src


def _edit(src: Path, module: str, old: str, new: str) -> None:
    path = src / "orm_models" / module
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{module} no longer holds {old!r}: update the test's edit"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _check(src: Path, *args: str, version: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    command = [CLI, "check", "--baseline", str(BASELINE), "--current", str(src), "--version", version]
    return subprocess.run(
        [*command, "--json", *args], capture_output=True, text=True, timeout=600, check=False, **kwargs
    )


def _next(bump: Bump) -> str:
    return bumped(str(BASELINE_MANIFEST["version"]), bump)


_SERVER_SIDE = '''"""Server-side behaviour the models cannot show: triggers, a rule, an EXCLUDE constraint."""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
phase = "expand"


def upgrade() -> None:
    op.execute(
        "CREATE FUNCTION person_tidy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "NEW.given_name := upper(NEW.given_name); "
        "IF TG_OP = 'UPDATE' AND NEW.external_id <> OLD.external_id THEN "
        "RAISE EXCEPTION 'external ids are immutable'; END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER person_tidy BEFORE INSERT OR UPDATE ON person "
        "FOR EACH ROW EXECUTE FUNCTION person_tidy()"
    )
    op.execute("CREATE RULE organization_kept AS ON DELETE TO organization DO INSTEAD NOTHING")
    op.execute("ALTER TABLE person ADD CONSTRAINT xc_person_email EXCLUDE USING btree (email WITH =)")


def downgrade() -> None:
    op.execute("ALTER TABLE person DROP CONSTRAINT xc_person_email")
    op.execute("DROP RULE organization_kept ON organization")
    op.execute("DROP TRIGGER person_tidy ON person")
    op.execute("DROP FUNCTION person_tidy()")
'''


def test_breaking_changes_no_fact_covers_are_caught_by_the_previous_release(
    tmp_path: Path, postgres_url: str
) -> None:
    src = _tree(tmp_path, {"server_side": _SERVER_SIDE})

    result = _check(src, "--database-url", postgres_url, version=_next(Bump.MINOR))

    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    facts = [c for c in report["changes"] if not c["kind"].startswith("witness_")]
    # The trigger is a fact of the migrated database (a person decides what it does); the rule
    # and the EXCLUDE constraint are not, and what each breaks is the witnesses' to show.
    major_facts = {(c["kind"], c["subject"]) for c in facts if c["bump"] == "major"}
    assert major_facts == {("add_trigger", "trigger person.person_tidy")}, major_facts
    assert report["required_bump"] == "major"
    evidence = report["witnesses"]["evidence"]
    assert {e["witness"] for e in evidence} == {OLD_CODE}

    def found(operation: str, outcome: str) -> dict[str, Any]:
        hits = [e for e in evidence if e["operation"] == operation and outcome in e["outcome"]]
        assert hits, f"no evidence of {operation!r} with {outcome!r} in {evidence}"
        hit: dict[str, Any] = hits[0]
        return hit

    # A trigger raises: the old code's update fails, with the database's own message.
    assert found("update external_id", "external ids are immutable")["table"] == "person"
    # A trigger rewrites a value: what the old code wrote is not what it reads.
    found("read back the row", "given_name='W")
    # A rule swallows deletes: the row is still there.
    assert found("delete the row", "still there")["class"] == "Organization"
    # A uniqueness the models do not declare: a second row with the same email is refused.
    found("insert leaving family_name to its default", "ExclusionViolation")
    majors = {c["subject"] for c in report["changes"] if c["kind"].startswith("witness_")}
    assert {"person.external_id", "organization"} <= majors


_DROP_GIVEN_NAME = '''"""Contract: drop person.given_name, which the candidate no longer maps."""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
phase = "contract"
drops = ("person.given_name",)


def upgrade() -> None:
    op.drop_column("person", "given_name")


def downgrade() -> None:
    raise NotImplementedError("a dropped column's data is gone")
'''


def test_new_code_that_needs_its_contract_fails_while_the_contract_is_held_back(
    tmp_path: Path, postgres_url: str
) -> None:
    src = _tree(tmp_path, {"drop_given_name": _DROP_GIVEN_NAME})
    _edit(src, "people.py", "    given_name: Mapped[str] = mapped_column(String(100))\n", "")

    report = run_witnesses(postgres_url, src, BASELINE, str(BASELINE_MANIFEST["version"]),
                           BASELINE_MANIFEST["migration_head"])  # fmt: skip

    assert set(report.ran) == {OLD_CODE, NEW_CODE}, report.skipped
    # The old code still finds given_name (the contract is held back): nothing breaks for it.
    assert [e for e in report.evidence if e.witness == OLD_CODE] == []
    new = [e for e in report.evidence if e.witness == NEW_CODE]
    inserts = [e for e in new if e.operation == "insert with every column set" and e.class_name == "Person"]
    assert inserts, new
    assert "given_name" in inserts[0].outcome
    assert "NotNullViolation" in inserts[0].outcome


_AUDIT_MODEL = '''

class AuditEntry(Base):
    """An audit entry, kept in a PostgreSQL schema of its own."""

    __tablename__ = "audit_entry"
    __table_args__ = {"schema": "audit"}

    id: Mapped[IntPk]
    message: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
'''

_AUDIT_REVISION = '''"""A table in another PostgreSQL schema."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
phase = "expand"


def upgrade() -> None:
    op.execute("CREATE SCHEMA audit")
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("message", sa.String(200), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id", ondelete="CASCADE")),
        schema="audit",
    )


def downgrade() -> None:
    op.drop_table("audit_entry", schema="audit")
    op.execute("DROP SCHEMA audit")
'''


def test_equivalent_rewrites_and_a_model_in_another_schema_are_not_major(
    tmp_path: Path, postgres_url: str
) -> None:
    src = _tree(tmp_path, {"audit": _AUDIT_REVISION})
    with (src / "orm_models" / "people.py").open("a", encoding="utf-8") as people:
        people.write(_AUDIT_MODEL)
    # The same clock, spelled another way (the migrations still say now()).
    created_at = "CreatedAt = Annotated[datetime, mapped_column(server_default={})]"
    _edit(src, "base.py", created_at.format("func.now()"), created_at.format('text("CURRENT_TIMESTAMP")'))
    _edit(src, "base.py", "from sqlalchemy import DateTime, Identity, MetaData, func",
          "from sqlalchemy import DateTime, Identity, MetaData, func, text")  # fmt: skip

    result = _check(src, "--database-url", postgres_url, version=_next(Bump.MINOR))

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["drift"] == []
    assert report["database_compared"]
    assert report["required_bump"] == "minor"
    kinds = {(c["kind"], c["subject"]): c["bump"] for c in report["changes"]}
    assert kinds[("add_table", "audit.audit_entry")] == "minor"
    assert kinds[("equivalent_server_default", "person.created_at")] == "none"
    assert report["witnesses"]["evidence"] == []
    assert OLD_CODE in report["witnesses"]["ran"]


def _cache_check(cache: Path, *args: str) -> subprocess.Popen[str]:
    """`check` on its embedded PostgreSQL kept in `cache` (no DATABASE_URL, no --database-url)."""
    return subprocess.Popen(
        [CLI, "check", "--baseline", str(BASELINE), "--version", "99.0.0", "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**_environ(), "ORM_MODELS_CHECK_PGDATA": str(cache)},
    )  # fmt: skip


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def _finished(process: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out + err
    assert "Traceback" not in err, err
    return json.loads(out), err


@pytest.fixture
def pg_cache() -> Iterator[Path]:
    """A cache directory for the check's PostgreSQL, outside pytest's basetemp: any pytest that
    starts meanwhile makes `pytest-of-<user>` private again, and pgserver's server runs as its
    own user, which must reach its data directory through it."""
    cache = Path(tempfile.mkdtemp(prefix="orm-models-check-pg-"))
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


def test_two_checks_at_once_both_succeed(pg_cache: Path) -> None:
    # The kept cluster is what two runs share (the witnesses' databases are named per run).
    first, second = _cache_check(pg_cache, "--no-witnesses"), _cache_check(pg_cache, "--no-witnesses")
    for process in (first, second):
        report, _err = _finished(process)
        assert report["database_compared"]
        assert report["drift"] == []


def test_an_unusable_cache_directory_is_replaced_with_a_one_line_notice(pg_cache: Path) -> None:
    data_dir = pg_cache / f"{postgres._backend_kind()}-uid{os.geteuid()}"
    data_dir.mkdir()
    (data_dir / "PG_VERSION").write_text("junk\n", encoding="utf-8")  # a cluster no server can start

    # The cluster is what this is about: the witnesses stay off (they have a test of their own).
    report, err = _finished(_cache_check(pg_cache, "--no-witnesses"))
    assert report["database_compared"]
    notices = [line for line in err.splitlines() if line.strip()]
    assert len(notices) == 1, err
    assert notices[0].startswith(f"orm-models: the PostgreSQL in {data_dir} could not be used ("), err
    assert (data_dir / "PG_VERSION").read_text(encoding="utf-8").strip().isdigit()

    _report, err = _finished(_cache_check(pg_cache, "--no-witnesses"))  # the fresh cluster is kept
    assert err.strip() == ""


_RAW_CHECK = '''"""A CHECK only a raw-SQL migration adds: the models never see it."""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
phase = "expand"


def upgrade() -> None:
    op.execute("ALTER TABLE person ADD CONSTRAINT ck_person_email_at CHECK (email LIKE '%@%') NOT VALID")


def downgrade() -> None:
    op.execute("ALTER TABLE person DROP CONSTRAINT ck_person_email_at")
'''


def test_the_changelog_lists_what_only_the_database_shows(tmp_path: Path, postgres_url: str) -> None:
    src = _tree(tmp_path, {"raw_check": _RAW_CHECK})
    args = ["changelog", "--baseline", str(BASELINE), "--current", str(src), "--version", _next(Bump.MAJOR)]

    listed = subprocess.run([CLI, *args, "--database-url", postgres_url],
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    models_only = subprocess.run([CLI, *args, "--no-database"], capture_output=True, text=True, timeout=600,
                                 check=False)  # fmt: skip

    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if "ck_person_email_at" in line)
    assert line.startswith("- **Breaking:**")
    assert "in the migrated database only" in line
    assert models_only.returncode == 0, models_only.stderr
    assert "ck_person_email_at" not in models_only.stdout


def _record(
    operation: str, column: str | None, ok: bool, result: Any = None, error: str | None = None
) -> Any:
    return {"class": "Person", "table": "person", "column": column, "operation": operation,
            "ok": ok, "result": result, "error": error}  # fmt: skip


def test_only_what_the_control_could_do_is_evidence_and_a_failed_update_is_one_break() -> None:
    control = [
        _record("insert leaving given_name to its default", "given_name", False, error="NotNullViolation"),
        _record("update external_id", "external_id", True),
        _record("read back after updating email", "email", True, {"external_id": "b", "email": "e2"}),
        _record("delete the row", None, True, "gone"),
    ]
    test = [
        _record("insert leaving given_name to its default", "given_name", False, error="NotNullViolation"),
        _record("update external_id", "external_id", False, error="RaiseException: immutable"),
        _record("read back after updating email", "email", True, {"external_id": "a", "email": "e2"}),
        _record("delete the row", None, True, "the row is still there"),
    ]

    evidence = compare_runs(OLD_CODE, control, test)

    assert [(e.operation, e.outcome) for e in evidence] == [
        ("update external_id", "RaiseException: immutable"),
        ("delete the row", "read 'the row is still there' where the control read 'gone'"),
    ]
    changes = WitnessReport(evidence=evidence).changes()
    assert {(c.subject, c.bump) for c in changes} == {
        ("person.external_id", Bump.MAJOR),
        ("person", Bump.MAJOR),
    }
