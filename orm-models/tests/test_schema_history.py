"""The real release history, rebuilt from git: classification, baseline freshness, migration lint."""

import io
import itertools
import subprocess
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from released import FIRST_CONTRACT
from schema_helpers import PROJECT, lint_upgrade, repo_root

from orm_models.schema import (
    Bump,
    diff_manifests,
    dumps,
    lint_revisions,
    tree_manifest,
    verdict,
)
from orm_models.schema.lint import head_of, heads_of, unreleased
from orm_models.schema.sources import revision_sources


def _releases() -> list[dict[str, Any]]:
    with (PROJECT / "releases.toml").open("rb") as file:
        return list(tomllib.load(file)["release"])


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """version -> `src` directory of that release, extracted from git (no worktree is touched)."""
    root, trees = repo_root(), {}
    for release in _releases():
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", release["commit"], "orm-models/src"],
            capture_output=True,
            check=False,
        )
        assert archive.returncode == 0, (
            f"git history is needed for release {release['version']} ({release['commit']}); "
            f"a shallow clone lacks it: {archive.stderr.decode().strip()}"
        )
        target = tmp_path_factory.mktemp(f"release-{release['version']}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
        trees[release["version"]] = target / "orm-models" / "src"
    return trees


@pytest.fixture(scope="module")
def manifests(history: dict[str, Path]) -> dict[str, Any]:
    return {version: tree_manifest(src) for version, src in history.items()}


def test_history_classifies_as_minor_then_major(manifests: dict[str, Any]) -> None:
    versions = [release["version"] for release in _releases()]
    assert versions[:3] == ["1.0.0", "1.1.0", "2.0.0"]
    bumps = []
    for old, new in itertools.pairwise(versions):
        changes = diff_manifests(manifests[old], manifests[new])
        result = verdict(old, new, changes)
        assert result.ok, (old, new, changes)
        bumps.append(result.required)
    assert bumps[:2] == [Bump.MINOR, Bump.MAJOR]


def test_history_names_the_columns(manifests: dict[str, Any]) -> None:
    expand = diff_manifests(manifests["1.0.0"], manifests["1.1.0"])
    assert [(c.kind, c.subject) for c in expand if c.table] == [("add_column_nullable", "person.family_name")]
    contract = diff_manifests(manifests["1.1.0"], manifests["2.0.0"])
    assert [(c.kind, c.subject) for c in contract if c.table] == [("drop_column", "person.last_name")]


def test_each_release_records_its_migration_head(manifests: dict[str, Any]) -> None:
    for release in _releases():
        assert manifests[release["version"]]["migration_head"] == release["migration_head"]


def test_committed_baseline_is_the_last_release(manifests: dict[str, Any]) -> None:
    last = _releases()[-1]["version"]
    baseline = (PROJECT / "schema-baseline.json").read_text(encoding="utf-8")
    assert baseline == dumps(manifests[last]), (
        "refresh it: orm-models manifest --from <release src> --output ..."
    )


def test_real_revisions_lint_clean(history: dict[str, Path]) -> None:
    revisions = lint_revisions(revision_sources(PROJECT / "src"))
    order = [r.revision for r in revisions]
    # Parents first (the order the lint judges "inserted before a release" by), every release's
    # head among them: read from the tree and releases.toml, so the next revision keeps it true.
    assert all(r.down_revision is None or order.index(r.down_revision) < i for i, r in enumerate(revisions))
    assert {str(release["migration_head"]) for release in _releases()} <= set(order)
    assert {r.revision: r.unsafe for r in revisions} == {r.revision: [] for r in revisions}
    # 2.0's contract drops a column: allowed because it is a contract revision that lists it in `drops`.
    [contract] = [r for r in revisions if r.revision == FIRST_CONTRACT]
    assert contract.phase == "contract"
    assert ("person", "last_name") in contract.touches


_lint = lint_upgrade


def test_lint_index_without_concurrently_is_unsafe() -> None:
    result = _lint('    op.create_index("ix_person_name", "person", ["name"])')
    assert [f.key for f in result.unsafe] == ["create_index ix_person_name"]
    assert "postgresql_concurrently=True" in result.unsafe[0].route
    concurrent = _lint('    op.create_index("ix_p", "person", ["name"], postgresql_concurrently=True)')
    assert concurrent.findings == []


@pytest.mark.parametrize(
    ("call", "key", "route"),
    [
        (
            'op.create_unique_constraint("uq_p_n", "person", ["n"])',
            "create_unique_constraint uq_p_n",
            "UNIQUE USING INDEX",
        ),
        (
            'op.create_primary_key("pk_p", "person", ["id"])',
            "create_primary_key pk_p",
            "PRIMARY KEY USING INDEX",
        ),
        (
            'op.create_exclude_constraint("ex_p", "person", ("n", "="))',
            "create_exclude_constraint ex_p",
            "no online route",
        ),
        (
            'op.create_foreign_key("fk_p", "person", "organization", ["o"], ["id"])',
            "create_foreign_key fk_p",
            "postgresql_not_valid=True",
        ),
        (
            'op.create_check_constraint("ck_p", "person", "n > 0")',
            "create_check_constraint ck_p",
            "postgresql_not_valid=True",
        ),
    ],
)
def test_every_constraint_added_to_an_existing_table_is_linted_with_its_route(
    call: str, key: str, route: str
) -> None:
    """Each op that adds a constraint builds an index or checks every row under a lock: the class,
    not only the unique constraint. On a table the same revision creates, each passes."""
    result = _lint(f"    {call}")
    assert [f.key for f in result.unsafe] == [key]
    assert route in result.unsafe[0].route
    created = '    op.create_table("person", sa.Column("id", sa.Integer()), sa.Column("n", sa.Integer()))\n'
    assert _lint(created + f"    {call}").unsafe == []


def test_lint_accepted_exception_carries_its_reason() -> None:
    result = _lint(
        '    op.create_index("ix_person_name", "person", ["name"])',
        extra='unsafe_ok = {"create_index ix_person_name": "person has 200 rows"}',
    )
    assert result.unsafe == []
    assert result.findings[0].accepted == "person has 200 rows"


def test_lint_drop_in_expand_and_unlisted_drop_in_contract() -> None:
    assert _lint('    op.drop_column("person", "nick")').unsafe[0].problem.startswith("removes data")
    unlisted = _lint('    op.drop_column("person", "nick")', phase="contract")
    assert "drops" in unlisted.unsafe[0].problem
    listed = _lint('    op.drop_column("person", "nick")', phase="contract", extra='drops = ("person.nick",)')
    assert listed.unsafe == []


def test_lint_not_null_routes() -> None:
    body = '    op.add_column("person", sa.Column("n", sa.Integer(), nullable=False))'
    assert _lint(body).unsafe[0].key == "add_column person.n"
    assert _lint(body.replace("nullable=False", "nullable=False, server_default='0'")).unsafe == []
    assert (
        _lint('    op.alter_column("person", "n", nullable=False)').unsafe[0].key == "alter_column person.n"
    )
    safe = (
        '    op.execute("ALTER TABLE person ADD CONSTRAINT ck_n CHECK (n IS NOT NULL) NOT VALID")\n'
        '    op.execute("ALTER TABLE person VALIDATE CONSTRAINT ck_n")\n'
        '    op.alter_column("person", "n", nullable=False)'
    )
    assert _lint(safe).unsafe == []


def _chain(*links: tuple[str, str | None], extra: str = "") -> dict[str, str]:
    """Revision sources (file name -> text) for a chain of (revision, down_revision) links."""
    return {
        f"rev_{revision}.py": f'revision = "{revision}"\ndown_revision = {down!r}\nphase = "expand"\n'
        f"{extra}\ndef upgrade() -> None:\n    pass\n"
        for revision, down in links
    }


def test_a_revision_inserted_before_a_released_one_is_unsafe_unless_accepted() -> None:
    """On a made-up chain (`m1`, `m2`, ...): no id of the tree, which the next revision extends."""
    released = ["m1", "m2"]
    appended = lint_revisions(_chain(("m1", None), ("m2", "m1"), ("m3", "m2")))
    assert [(r.revision, r.unsafe) for r in unreleased(appended, released, "m2")] == [("m3", [])]

    inserted = lint_revisions(_chain(("m1", None), ("m1a", "m1"), ("m2", "m1a")))
    [new] = unreleased(inserted, released, "m2")
    assert new.revision == "m1a"
    assert [f.key for f in new.unsafe] == ["insert_before m2"]
    assert "never run it" in new.unsafe[0].problem

    accepted = lint_revisions(
        _chain(
            ("m1", None),
            ("m1a", "m1"),
            ("m2", "m1a"),
            extra='unsafe_ok = {"insert_before m2": "why"}',
        )
    )
    assert unreleased(accepted, released, "m2")[0].unsafe == []
    # A baseline from before 2.2 records only its head: nothing before it counts as new.
    assert unreleased(inserted, None, "m2") == []


def test_lint_sql_it_cannot_read_needs_a_reason() -> None:
    computed = _lint("    op.execute(STATEMENT)", extra="from elsewhere import STATEMENT")
    assert [f.key for f in computed.unsafe] == ["execute <computed SQL>"]
    constant = _lint("    op.execute(STATEMENT)", extra='STATEMENT = "CREATE INDEX ix ON person (name)"')
    assert [f.key for f in constant.unsafe] == ["execute CREATE INDEX ix"]  # a constant of the module is read
    literal = _lint('    op.execute("UPDATE person SET name = upper(name) WHERE id <= 100")')
    assert literal.findings == []  # readable SQL, and a bounded write
    wrapped = _lint('    op.execute(sa.text("CREATE INDEX ix ON person (name)"))')
    assert [f.key for f in wrapped.unsafe] == ["execute CREATE INDEX ix"]


def test_a_new_revision_alone_needs_a_patch_release(manifests: dict[str, Any]) -> None:
    old = manifests["2.1.0"]
    new = {**old, "migrations": [*old["migrations"], "0009"]}
    changes = diff_manifests(old, new)
    assert [(c.kind, c.subject, c.bump) for c in changes] == [("revision_added", "revision 0009", Bump.PATCH)]
    unbumped = verdict("2.1.0", "2.1.0", changes)  # unreleased work: what the next release must be
    assert (unbumped.ok, unbumped.pending, unbumped.minimum_version) == (True, True, "2.1.1")
    assert verdict("2.1.0", "2.1.1", changes).ok
    assert not verdict("2.1.0", "2.0.9", changes).ok  # lower than the release: a conflict


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("UPDATE person SET nick = given_name", "execute UPDATE person"),
        ("UPDATE person SET nick = given_name WHERE nick IS NULL", "execute UPDATE person"),
        ("DELETE FROM person", "execute DELETE person"),
    ],
)
def test_lint_an_unbatched_full_table_write_in_an_expand_revision(sql: str, key: str) -> None:
    assert [f.key for f in _lint(f'    op.execute("{sql}")').unsafe] == [key]
    assert [f.key for f in _lint(f'    op.execute(sa.text("{sql}"))').unsafe] == [key]
    assert _lint(f'    op.execute("{sql}")', phase="contract").unsafe == []  # clients of it are gone


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE person SET nick = name WHERE id IN (SELECT id FROM person WHERE nick IS NULL LIMIT 500)",
        "UPDATE person SET nick = given_name WHERE id BETWEEN :low AND :high",
        "UPDATE person SET nick = given_name WHERE id > :after AND id <= :upto",
    ],
)
def test_lint_a_batched_write_passes(sql: str) -> None:
    assert _lint(f'    op.execute("{sql}")').unsafe == []


def test_branches_order_parents_first_and_a_new_expand_revision_inserts_before_nothing() -> None:
    """Expand and contract branches from one point: a revision after the expand head is appended."""
    sources = _chain(("0001", None), ("0002", "0001"), ("0004", "0002"), ("0005", "0004"))
    sources["rev_0003.py"] = 'revision = "0003"\ndown_revision = "0002"\nphase = "contract"\n'
    revisions = lint_revisions(sources)
    assert [r.revision for r in revisions] == ["0001", "0002", "0003", "0004", "0005"]
    assert heads_of(revisions) == "0003 0005"
    assert head_of(revisions) == "0005"
    [new] = unreleased(revisions, ["0001", "0002", "0003", "0004"], "0003 0004")
    assert (new.revision, new.unsafe) == ("0005", [])


def _revision_file(revision: str, down: str | None, phase: str = "expand") -> str:
    header = f'revision = "{revision}"\ndown_revision = {down!r}\nphase = "{phase}"\n'
    return header + "def upgrade() -> None:\n    pass\n"


def test_two_branches_that_each_took_the_next_id_are_reported_naming_both_files() -> None:
    """Two developers each ran `orm-models revision` after 0002; git merged both files cleanly."""
    sources = {
        "rev_0001_initial.py": _revision_file("0001", None),
        "rev_0002_base.py": _revision_file("0002", "0001"),
        "rev_0003_add_nick.py": _revision_file("0003", "0002"),
        "rev_0003_add_score.py": _revision_file("0003", "0002"),
        "rev_0002x_cleanup.py": _revision_file("0002x", "0001", phase="contract"),  # its own branch
    }
    results = lint_revisions(sources)
    flagged = [(r.filename, f.key) for r in results for f in r.unsafe]
    assert flagged == [("rev_0003_add_score.py", "duplicate_revision 0003")]
    [finding] = next(r for r in results if r.filename == "rev_0003_add_score.py").unsafe
    assert "rev_0003_add_nick.py and rev_0003_add_score.py both say revision 0003" in finding.problem
    assert finding.route == (
        "renumber the later one: git mv rev_0003_add_score.py rev_0004_add_score.py, "
        'then in it set revision = "0004" and down_revision = "0003"'
    )
    # Both are new since a release that shipped 0002, and no `unsafe_ok` quiets the finding.
    accepted = {**sources, "rev_0003_add_score.py": sources["rev_0003_add_score.py"]
                + 'unsafe_ok = {"duplicate_revision 0003": "why"}\n'}  # fmt: skip
    for tree in (sources, accepted):
        new = unreleased(lint_revisions(tree), ["0001", "0002"], "0002")
        assert [f.key for r in new for f in r.unsafe] == ["duplicate_revision 0003"]


def test_a_new_file_reusing_a_released_id_is_reported() -> None:
    sources = {"rev_0001_a.py": _revision_file("0001", None), "rev_0001_b.py": _revision_file("0001", None)}
    new = unreleased(lint_revisions(sources), ["0001"], "0001")
    assert [(r.filename, [f.key for f in r.unsafe]) for r in new] == [
        ("rev_0001_b.py", ["duplicate_revision 0001"])
    ]


def test_a_second_head_on_a_branch_is_reported_with_the_head_to_chain_after() -> None:
    """The later one renumbered but still after the old head; or two ids after one revision."""
    results = lint_revisions(
        {
            "rev_0001_initial.py": _revision_file("0001", None),
            "rev_0002_add_nick.py": _revision_file("0002", "0001"),
            "rev_0003_add_nick_index.py": _revision_file("0003", "0002"),
            "rev_0004_add_score.py": _revision_file("0004", "0001"),
            "rev_0005_drop_old.py": _revision_file("0005", "0001", phase="contract"),  # the other branch
        }
    )
    assert [(r.filename, f.key) for r in results for f in r.unsafe] == [
        ("rev_0004_add_score.py", "second_head 0004")
    ]
    [finding] = next(r for r in results if r.revision == "0004").unsafe
    assert "rev_0002_add_nick.py and rev_0004_add_score.py both come after 0001" in finding.problem
    assert "expand branch has two heads" in finding.problem
    assert finding.route.endswith('in rev_0004_add_score.py set down_revision = "0003"')


def test_the_released_tree_has_one_id_per_file_and_one_head_per_branch() -> None:
    results = lint_revisions(revision_sources(PROJECT / "src"))
    assert results
    assert [
        f for r in results for f in r.findings if f.operation in {"duplicate_revision", "second_head"}
    ] == []
