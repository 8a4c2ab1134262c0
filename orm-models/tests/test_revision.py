"""`orm-models revision`, run as an author runs it: in a scratch copy of the orm-models tree."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from released import LAST_1X_HEAD, release_head
from schema_helpers import PROJECT

import orm_models
from orm_models import migrate
from orm_models.schema import lint_revision, lint_revisions, revision_sources
from orm_models.schema.changes import Bump
from orm_models.schema.lint import head_of
from orm_models.schema.versioning import bumped, parse_version

CLI = str(Path(sys.executable).parent / "orm-models")
REPO = PROJECT.parent


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the orm-models project (sources, baseline): what an author has checked out."""
    root = tmp_path / "orm-models"
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")  # the checkout's ruff settings
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "schema-baseline.json"):
        shutil.copy2(PROJECT / name, root / name)
    return root


def _versions(tree: Path) -> Path:
    return tree / "src" / "orm_models" / "migrations" / "versions"


def _numbered(tree: Path) -> tuple[str, str]:
    """The tree's expand head (what a new expand revision follows), and the id the next one gets."""
    numbers = [
        int(match.group(1))
        for path in _versions(tree).glob("rev_*.py")
        if (match := re.match(r"rev_(\d{4})_", path.name))
    ]
    head = head_of(lint_revisions(revision_sources(_versions(tree))))
    assert head is not None
    return head, f"{max(numbers) + 1:04d}"


def _ruff_clean(path: Path) -> None:
    """What `nox -s lint` runs on the file, with the repository's ruff configuration."""
    config = ["--config", str(REPO / "pyproject.toml")]
    for command in (["format", "--check"], ["check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *config, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _check(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli("check", "--baseline", "schema-baseline.json", "--current", "src", "--json", *args, cwd=tree)


def _release_version(tree: Path) -> str:
    """The smallest version `check` accepts for the tree now, and never less than a patch bump."""
    report = json.loads(_check(tree).stdout)
    patch = bumped(str(report["baseline_version"]), Bump.PATCH)
    return max(str(report["minimum_version"]), patch, key=parse_version)


def test_a_new_revision_is_numbered_phased_linted_and_accepted_by_check(tree: Path) -> None:
    inside = tree / "src" / "orm_models"  # anywhere in the checkout: the tree is found upwards
    head, new = _numbered(tree)
    result = _cli("revision", "-m", "Backfill person e-mail domains", "--phase", "expand", cwd=inside)
    assert result.returncode == 0, result.stdout + result.stderr

    [written] = _versions(tree).glob(f"rev_{new}_*.py")
    assert written.name == f"rev_{new}_backfill_person_e_mail_domains.py"
    lint = lint_revision(written.read_text(), written.name)
    assert (lint.revision, lint.down_revision, lint.phase, lint.findings) == (new, head, "expand", [])
    assert f"Migration lint of {new}: ok" in result.stdout
    _ruff_clean(written)
    assert "Required bump:" in result.stdout  # what `orm-models check` says, printed on the spot
    assert "The next release needs at least" in result.stdout

    checked = _check(tree, "--version", _release_version(tree))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    # Unreleased revisions already in the tree (the next release's) are listed too.
    listed = {r["revision"]: (r["phase"], r["findings"]) for r in report["revisions"]}
    assert listed[new] == ("expand", [])
    assert f"revision {new}" in {change["subject"] for change in report["changes"]}


def test_autogenerate_contract_lists_its_drops_and_leaves_the_database_alone(
    tree: Path, create_database: Callable[[], str]
) -> None:
    """The tree's models (not the installed ones) drop `email` and add a column it does not map."""
    people = tree / "src" / "orm_models" / "people.py"
    email = "    email: Mapped[str | None] = mapped_column(String(320), index=True)\n"
    assert email in people.read_text()
    added = _unmapped_column(tree, "nickname")
    people.write_text(
        people.read_text().replace(email, f"    {added}: Mapped[str | None] = mapped_column(String(50))\n")
    )
    url = create_database()  # never migrated: a scratch database beside it is migrated, then dropped
    new = _numbered(tree)[1]

    result = _cli(
        *("revision", "-m", f"{added} replaces email", "--phase", "contract", "--autogenerate"),
        *("--database-url", url, "--versions-dir", str(_versions(tree))),
        cwd=tree.parent,
    )
    [written] = _versions(tree).glob(f"rev_{new}_*.py")
    text = written.read_text()
    assert 'drops = ("person.email",)' in text
    assert 'op.drop_column("person", "email")' in text
    assert f'sa.Column("{added}"' in text
    _ruff_clean(written)  # autogenerate renders single quotes: the file is formatted as written
    assert f'depends_on: str | Sequence[str] | None = "{_numbered(tree)[0]}"' in text  # after the expand head
    # The drop is listed, so only the plain DROP INDEX is flagged: exit 1, the route printed.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "UNSAFE drop_index ix_person_email" in result.stdout
    assert "drop_column person.email" not in result.stdout.split("What `orm-models check")[0]
    assert "major" in result.stdout  # dropping a mapped column: the check's verdict

    engine = sa.create_engine(url)
    assert sa.inspect(engine).get_table_names() == []  # nothing kept in the database used
    engine.dispose()


def _unmapped_column(tree: Path, stem: str) -> str:
    """`stem`, or `stem_2`, ...: a column name no source of the tree mentions (so none maps it)."""
    sources = "\n".join(path.read_text() for path in (tree / "src").rglob("*.py"))
    names = (stem, *(f"{stem}_{n}" for n in range(2, 100)))
    return next(name for name in names if not re.search(rf"\b{name}\b", sources))


_CONCURRENT_INDEX_REVISION = '''"""add person.{column}, indexed concurrently (outside a transaction)"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.add_column("person", sa.Column("{column}", sa.String(50), nullable=True))
    with op.get_context().autocommit_block():
        op.create_index("ix_person_{column}", "person", ["{column}"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_person_{column}", table_name="person", postgresql_concurrently=True)
    op.drop_column("person", "{column}")
'''


def _add_concurrent_index_revision(tree: Path) -> str:
    """A revision as the lint's safe route writes it (CREATE INDEX CONCURRENTLY in an
    autocommit block), and the model column it indexes; returns the id the next revision gets."""
    column = _unmapped_column(tree, "nickname")
    head, new = _numbered(tree)
    source = _CONCURRENT_INDEX_REVISION.format(column=column, revision=new, down=head)
    (_versions(tree) / f"rev_{new}_add_person_{column}.py").write_text(source)
    people = tree / "src" / "orm_models" / "people.py"
    email = "    email: Mapped[str | None] = mapped_column(String(320), index=True)\n"
    assert email in people.read_text()
    mapped = f"    {column}: Mapped[str | None] = mapped_column(String(50), index=True)\n"
    people.write_text(people.read_text().replace(email, email + mapped))
    return _numbered(tree)[1]


def _databases(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        names: set[str] = set(connection.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    engine.dispose()
    return names


@pytest.mark.parametrize("database", ["embedded", "empty --database-url"])
def test_autogenerate_after_an_autocommit_revision_leaves_no_database_behind(
    tree: Path, database: str, create_database: Callable[[], str], postgres_url: str
) -> None:
    """An empty database cannot be migrated in a transaction rolled back past an autocommit
    block: autogenerate migrates a scratch database instead, and drops it."""
    new = _add_concurrent_index_revision(tree)
    args = ["revision", "-m", "after the index", "--phase", "expand", "--autogenerate"]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:  # short: the embedded server's socket
        env["TMPDIR"] = scratch
        if database == "embedded":
            result = _cli(*args, cwd=tree, env=env)
        else:
            url = create_database()
            before = _databases(postgres_url)
            result = _cli(*args, "--database-url", url, cwd=tree, env=env)
            assert _databases(postgres_url) == before  # the scratch database was dropped
            engine = sa.create_engine(url, poolclass=sa.NullPool)
            assert sa.inspect(engine).get_table_names() == []  # and the one given was never migrated
            engine.dispose()
        assert result.returncode == 0, result.stdout + result.stderr
        assert list(Path(scratch).glob("orm-models-revision-*")) == []  # nor an embedded server's data
    [written] = _versions(tree).glob(f"rev_{new}_*.py")
    assert "it is empty" in result.stdout  # the models and the migrations agree, index included
    _ruff_clean(written)


def test_autogenerate_drops_its_scratch_database_when_a_revision_fails(
    tree: Path, create_database: Callable[[], str], postgres_url: str
) -> None:
    new = _add_concurrent_index_revision(tree)
    [added] = _versions(tree).glob(f"rev_{_numbered(tree)[0]}_*.py")
    failing = '    op.execute("SELECT no_such_function()")\n\n\ndef downgrade'
    added.write_text(added.read_text().replace("\n\n\ndef downgrade", "\n" + failing, 1))
    url, before = create_database(), _databases(postgres_url)
    args = ["revision", "-m", "never", "--phase", "expand", "--autogenerate", "--database-url", url]
    result = _cli(*args, cwd=tree)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "no_such_function" in line
    assert _databases(postgres_url) == before
    assert list(_versions(tree).glob(f"rev_{new}_*.py")) == []


def test_autogenerate_without_create_database_privilege(
    tree: Path, create_database: Callable[[], str], postgres_url: str
) -> None:
    """A role that may not CREATE DATABASE: the empty database is migrated in a transaction rolled
    back, as before; past an autocommit block that cannot work, and the one line says what can."""
    role = f"author_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    url = sa.make_url(create_database())
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD '{role}'"))
        connection.execute(sa.text(f'ALTER DATABASE "{url.database}" OWNER TO {role}'))
    as_author = url.set(username=role, password=role).render_as_string(hide_password=False)
    args = ["revision", "-m", "plain", "--phase", "expand", "--autogenerate", "--database-url", as_author]
    # A later release may ship an autocommit revision itself (the lint's route for an index):
    # then the tree is already past what the rolled-back transaction can run.
    shipped = any("autocommit_block(" in path.read_text() for path in _versions(tree).glob("rev_*.py"))
    try:
        if shipped:
            new = _numbered(tree)[1]
        else:
            plain = _cli(*args, cwd=tree)
            assert plain.returncode == 0, plain.stdout + plain.stderr
            new = _add_concurrent_index_revision(tree)
        refused = _cli(*args, cwd=tree)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            connection.execute(sa.text(f"DROP OWNED BY {role}"))
            connection.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert line.startswith("orm-models: could not write the revision: NoScratchDatabaseError: ")
    assert "CREATE DATABASE" in line
    assert "--database-url of a database already at the newest revision" in line
    assert list(_versions(tree).glob(f"rev_{new}_*.py")) == []  # nothing written


def test_autogenerate_on_a_database_behind_the_tree_is_one_line(
    tree: Path, create_database: Callable[[], str]
) -> None:
    url = create_database()
    new = _numbered(tree)[1]
    migrate(url, release_head("1.0.0"))  # in use by someone (not empty): left alone, so it must be at head
    args = ["revision", "-m", "x", "--phase", "expand", "--autogenerate", "--database-url", url]
    result = _cli(*args, cwd=tree)
    assert result.returncode == 1
    assert result.stderr.startswith("orm-models: could not write the revision: ")
    assert "not up to date" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(_versions(tree).glob(f"rev_{new}_*.py")) == []


@pytest.fixture
def outside_any_checkout() -> Iterator[Path]:
    """A directory with no orm-models tree at or above it (tmp_path may be inside this checkout)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        here = Path(scratch).resolve()
        for directory in (here, *here.parents):
            for src in (directory / "src", directory / "orm-models" / "src"):
                assert not (src / "orm_models").exists(), f"{src}: cannot test the refusal below a tree"
        yield here


def test_refuses_without_a_source_tree(outside_any_checkout: Path) -> None:
    installed = Path(orm_models.__file__).parent / "migrations" / "versions"
    before = sorted(path.name for path in installed.iterdir())
    outside = outside_any_checkout
    result = _cli("revision", "-m", "anything", "--phase", "expand", cwd=outside)
    missing = _cli("revision", "-m", "x", "--phase", "expand", "--versions-dir", "nowhere", cwd=outside)
    assert result.returncode == 2
    assert "no orm-models source tree" in result.stderr
    assert "--versions-dir" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in installed.iterdir()) == before  # the wheel is never written to
    assert missing.returncode == 2
    assert "no such directory" in missing.stderr


_RUN_TREE_MIGRATIONS = """
import sys
from orm_models import migrate
migrate(sys.argv[1], sys.argv[2], contract=sys.argv[2] != "expand@head")
"""


_INSERT_OLD_NAME = sa.text(
    "INSERT INTO person (external_id, given_name, family_name, email) VALUES (:id, 'G', 'F', :email)"
)


def _migrate_with_tree(tree: Path, url: str, target: str, *, ok: bool = True) -> str:
    """Migrate with the scratch tree's own revisions (its `orm_models` first on the path)."""
    result = subprocess.run(
        [sys.executable, "-c", _RUN_TREE_MIGRATIONS, url, target],
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode == 0) == ok, result.stderr
    return result.stderr


def test_a_rename_backfill_commits_each_batch_and_a_stopped_one_goes_on(
    tree: Path, create_database: Callable[[], str]
) -> None:
    """Batches committed one by one (a batch's row locks last one statement): a backfill that
    fails part-way keeps the batches before it, and the next migrate finishes the rest."""
    assert _cli("revision", "--rename", "person.email:email_address", cwd=tree).returncode == 0
    url = create_database()
    migrate(url)
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would see a client
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO person (external_id, given_name, family_name, email) "
                "SELECT 'p' || n, 'G', 'F', 'p' || n || '@x' FROM generate_series(1, 2500) AS n"
            )
        )
        # The last row refuses to be copied: the backfill stops in its third batch of 1000.
        connection.execute(
            sa.text(
                "CREATE FUNCTION refuse_p2500() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.external_id = 'p2500' AND NEW.email_address IS NOT NULL THEN "
                "RAISE EXCEPTION 'p2500 refused'; END IF; RETURN NEW; END $$"
            )
        )
        connection.execute(
            sa.text(
                "CREATE TRIGGER refuse_p2500 BEFORE UPDATE ON person "
                "FOR EACH ROW EXECUTE FUNCTION refuse_p2500()"
            )
        )
    assert "p2500 refused" in _migrate_with_tree(tree, url, "expand@head", ok=False)

    copied = sa.text("SELECT count(*) FROM person WHERE email_address = email")
    with engine.connect() as connection:
        assert connection.execute(copied).scalar_one() >= 1000  # the committed batches stayed
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TRIGGER refuse_p2500 ON person"))
    _migrate_with_tree(tree, url, "expand@head")  # re-run: it goes on from there
    with engine.connect() as connection:
        assert connection.execute(copied).scalar_one() == 2500
    engine.dispose()


def test_rename_scaffold_writes_an_expand_that_keeps_both_names_in_step_and_its_contract(
    tree: Path, create_database: Callable[[], str]
) -> None:
    head, expand_id = _numbered(tree)
    before = set(_versions(tree).glob("rev_*.py"))
    result = _cli("revision", "--rename", "person.email:email_address", cwd=tree)
    assert result.returncode == 0, result.stdout + result.stderr
    [expand] = set(_versions(tree).glob("rev_*.py")) - before  # the expand alone: it ships first
    assert expand.name == f"rev_{expand_id}_rename_person_email_to_email_address_expand.py"
    assert "--rename person.email:email_address --phase contract" in result.stdout  # the next step
    _, contract_id = _numbered(tree)
    result = _cli("revision", "--rename", "person.email:email_address", "--phase", "contract", cwd=tree)
    assert result.returncode == 0, result.stdout + result.stderr
    [contract] = set(_versions(tree).glob("rev_*.py")) - before - {expand}
    assert contract.name == f"rev_{contract_id}_rename_person_email_to_email_address_contract.py"
    for path in (expand, contract):
        _ruff_clean(path)
    expand_lint = lint_revision(expand.read_text(), expand.name)
    contract_lint = lint_revision(contract.read_text(), contract.name)
    assert (expand_lint.phase, expand_lint.down_revision, expand_lint.unsafe) == ("expand", head, [])
    assert (contract_lint.phase, contract_lint.unsafe) == ("contract", [])
    assert 'drops = ("person.email",)' in contract.read_text()
    assert f'depends_on: str | Sequence[str] | None = "{expand_id}"' in contract.read_text()

    url = create_database()
    migrate(url)  # the released schema, with a person written before the rename
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # no idle session: the gate would see a client
    with engine.begin() as connection:
        connection.execute(_INSERT_OLD_NAME, {"id": "old", "email": "a@x"})
    triggers_before = _triggers(engine)
    with engine.begin() as connection:
        # As a run stopped inside the backfill leaves it: the column committed (each batch commits
        # on its own), the revision not recorded. The next migrate goes on from there.
        connection.execute(sa.text("ALTER TABLE person ADD COLUMN email_address varchar(320)"))
    _migrate_with_tree(tree, url, "expand@head")
    assert _triggers(engine) > triggers_before  # the expand's sync trigger
    with engine.begin() as connection:
        # A client on the old name, and one on the new name: each sees the other's writes.
        connection.execute(_INSERT_OLD_NAME, {"id": "v1", "email": "c@x"})
        connection.execute(
            sa.text(
                "INSERT INTO person (external_id, given_name, family_name, email_address) "
                "VALUES ('v2', 'E', 'F', 'e@x')"
            )
        )
        connection.execute(sa.text("UPDATE person SET email_address = 'new@x' WHERE external_id = 'v1'"))
        connection.execute(sa.text("UPDATE person SET email = 'old@x' WHERE external_id = 'v2'"))
        rows = {
            r.external_id: (r.email, r.email_address)
            for r in connection.execute(sa.text("SELECT external_id, email, email_address FROM person"))
        }
    assert rows == {"old": ("a@x", "a@x"), "v1": ("new@x", "new@x"), "v2": ("old@x", "old@x")}

    # The clients above stop, as an operator stops them before a contract: the gate would count
    # this engine's pooled session, still connected and seen writing person.email, as live.
    engine.dispose()
    _migrate_with_tree(tree, url, "heads")  # the contract: the old column and the trigger go
    columns = {c["name"] for c in sa.inspect(engine).get_columns("person")}
    assert "email" not in columns
    assert "email_address" in columns
    # The rename's sync trigger went with the old column (so did any other contract's bridge).
    assert _triggers(engine) <= triggers_before
    engine.dispose()


def _triggers(engine: sa.Engine) -> set[str]:
    """The user-defined triggers on person (not those PostgreSQL makes for constraints)."""
    with engine.connect() as connection:
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'person'::regclass AND NOT tgisinternal"
        return set(connection.execute(sa.text(query)).scalars())


def test_a_rename_contract_needs_its_expand_and_is_written_once(tree: Path) -> None:
    before = sorted(_versions(tree).glob("rev_*.py"))
    orphan = _cli("revision", "--rename", "person.email:email_address", "--phase", "contract", cwd=tree)
    assert orphan.returncode == 2
    assert "holds no expand revision of this rename" in orphan.stderr
    assert "Traceback" not in orphan.stderr
    assert sorted(_versions(tree).glob("rev_*.py")) == before  # nothing written
    for phase in ("expand", "contract"):
        written = _cli("revision", "--rename", "person.email:email_address", "--phase", phase, cwd=tree)
        assert written.returncode == 0, written.stdout + written.stderr
    written_so_far = sorted(_versions(tree).glob("rev_*.py"))
    again = _cli("revision", "--rename", "person.email:email_address", "--phase", "contract", cwd=tree)
    assert again.returncode == 2
    assert "is already its contract" in again.stderr
    assert sorted(_versions(tree).glob("rev_*.py")) == written_so_far
    # -m and --autogenerate belong to a hand-written revision, not to a rename's.
    mixed = _cli("revision", "--rename", "person.email:email_address", "--autogenerate", cwd=tree)
    assert mixed.returncode == 2
    assert "without -m and --autogenerate" in mixed.stderr


def test_rename_needs_table_old_new(tree: Path) -> None:
    result = _cli("revision", "--rename", "person.email", cwd=tree)
    assert result.returncode == 2
    assert "expected TABLE.OLD:NEW" in result.stderr
    assert "Traceback" not in result.stderr
    before = sorted(_versions(tree).glob("rev_*.py"))
    # Input errors, like a bad option: exit 2, one line, nothing written.
    for spec, said in [
        ("person.nothing:else", "person maps none of else, nothing"),
        ("nosuch.a:b", "the models map no table 'nosuch'"),
    ]:
        refused = _cli("revision", "--rename", spec, cwd=tree)
        assert (refused.returncode, refused.stderr.strip()) == (2, f"orm-models: {said}")
    taken = _cli("revision", "--rename", "person.email:given_name", cwd=tree)
    assert taken.returncode == 2
    assert "person already has a column given_name (released in" in taken.stderr
    assert sorted(_versions(tree).glob("rev_*.py")) == before


def test_a_rename_contract_before_its_expand_is_released_is_warned_about(tree: Path) -> None:
    for phase in ("expand", "contract"):
        written = _cli("revision", "--rename", "person.email:email_address", "--phase", phase, cwd=tree)
        assert written.returncode == 0, written.stdout + written.stderr
    assert "is not released yet: release it as a minor first" in written.stderr


_ADD_NOTE = 'op.add_column("person", sa.Column("scratch_note", sa.Text(), nullable=True))'


def test_a_later_expand_revision_reaches_a_database_that_holds_the_contract_back(
    tree: Path, create_database: Callable[[], str]
) -> None:
    """The point of the two branches: 1.x clients still live, and a 2.x minor's column still arrives."""
    new = _numbered(tree)[1]
    result = _cli("revision", "-m", "add a scratch note", "--phase", "expand", cwd=tree)
    assert result.returncode == 0, result.stdout + result.stderr
    [written] = _versions(tree).glob(f"rev_{new}_*.py")
    # An empty revision has no unused import (ruff removed them): the author adds what it uses.
    body = written.read_text().replace(
        "def upgrade() -> None:\n    pass", "def upgrade() -> None:\n    " + _ADD_NOTE
    )
    written.write_text("import sqlalchemy as sa\nfrom alembic import op\n\n" + body)
    url = create_database()
    migrate(url, LAST_1X_HEAD)  # 1.1.0's database: its clients map last_name
    _migrate_with_tree(tree, url, "expand@head")
    engine = sa.create_engine(url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("person")}
    engine.dispose()
    assert {"scratch_note", "last_name"} <= columns  # the new expand ran, the contract did not
