"""`orm-models revision`, run as an author runs it: in a scratch copy of the orm-models tree."""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from schema_helpers import PROJECT

import orm_models
from orm_models import migrate
from orm_models.schema import lint_revision
from orm_models.schema.changes import Bump
from orm_models.schema.versioning import bumped, parse_version

CLI = str(Path(sys.executable).parent / "orm-models")


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the orm-models project (sources, baseline): what an author has checked out."""
    root = tmp_path / "orm-models"
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "schema-baseline.json"):
        shutil.copy2(PROJECT / name, root / name)
    return root


def _versions(tree: Path) -> Path:
    return tree / "src" / "orm_models" / "migrations" / "versions"


def _numbered(tree: Path) -> tuple[str, str]:
    """The tree's newest numbered revision, and the id `orm-models revision` gives the next one."""
    numbers = [
        int(match.group(1))
        for path in _versions(tree).glob("rev_*.py")
        if (match := re.match(r"rev_(\d{4})_", path.name))
    ]
    return f"{max(numbers):04d}", f"{max(numbers) + 1:04d}"


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
    assert "Required bump:" in result.stdout  # what `orm-models check` says, printed on the spot
    assert "The next release needs at least" in result.stdout

    checked = _check(tree, "--version", _release_version(tree))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert [(r["revision"], r["phase"], r["findings"]) for r in report["revisions"]] == [(new, "expand", [])]
    assert f"revision {new}" in {change["subject"] for change in report["changes"]}


def test_autogenerate_contract_lists_its_drops_and_leaves_the_database_alone(
    tree: Path, create_database: Callable[[], str]
) -> None:
    """The tree's models (not the installed ones) drop `email` and add `nickname`."""
    people = tree / "src" / "orm_models" / "people.py"
    email = "    email: Mapped[str | None] = mapped_column(String(320), index=True)\n"
    assert email in people.read_text()
    people.write_text(
        people.read_text().replace(email, "    nickname: Mapped[str | None] = mapped_column(String(50))\n")
    )
    url = create_database()  # never migrated: migrated inside a transaction that is rolled back
    new = _numbered(tree)[1]

    result = _cli(
        *("revision", "-m", "nickname replaces email", "--phase", "contract", "--autogenerate"),
        *("--database-url", url, "--versions-dir", str(_versions(tree))),
        cwd=tree.parent,
    )
    [written] = _versions(tree).glob(f"rev_{new}_*.py")
    text = written.read_text()
    assert 'drops = ("person.email",)' in text
    assert "op.drop_column('person', 'email')" in text or 'op.drop_column("person", "email")' in text
    assert "nickname" in text
    # The drop is listed, so only the plain DROP INDEX is flagged: exit 1, the route printed.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "UNSAFE drop_index ix_person_email" in result.stdout
    assert "drop_column person.email" not in result.stdout.split("What `orm-models check")[0]
    assert "major" in result.stdout  # dropping a mapped column: the check's verdict

    engine = sa.create_engine(url)
    assert sa.inspect(engine).get_table_names() == []  # nothing kept in the database used
    engine.dispose()


def test_autogenerate_on_a_database_behind_the_tree_is_one_line(
    tree: Path, create_database: Callable[[], str]
) -> None:
    url = create_database()
    new = _numbered(tree)[1]
    migrate(url, "0001")  # in use by someone (not empty): left alone, so it must be at head
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
