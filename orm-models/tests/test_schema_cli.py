"""`orm-models check | changelog | manifest`, run as the release session runs them."""

import json
import subprocess
import sys
from pathlib import Path

from schema_helpers import PROJECT, manifest
from sqlalchemy import Integer, String
from sqlalchemy.orm import mapped_column

from orm_models.schema import dumps, verdict
from orm_models.schema.report import CheckResult, to_table
from orm_models.schema.rules import classify

CLI = str(Path(sys.executable).parent / "orm-models")
BASELINE = PROJECT / "schema-baseline.json"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    """A baseline 1.0.0 and a current tree that drops `person.nick` and adds a NOT NULL `score`."""
    old = tmp_path / "old.json"
    old.write_text(dumps(manifest({"name": mapped_column(String(50)), "nick": mapped_column(String(20))})))
    new = tmp_path / "new.json"
    new.write_text(
        dumps(manifest({"name": mapped_column(String(50)), "score": mapped_column(Integer, nullable=False)}))
    )
    return old, new


def test_breaking_change_with_minor_bump_exits_1_naming_the_columns(tmp_path: Path) -> None:
    old, new = _pair(tmp_path)
    result = _cli("check", "--baseline", str(old), "--current", str(new), "--version", "1.1.0")
    assert result.returncode == 1, result.stderr
    assert "TOO SMALL" in result.stdout
    assert "person.nick" in result.stdout
    assert "person.score" in result.stdout
    assert "breaks old writers" in result.stdout


def test_unreleased_work_on_an_unbumped_version_is_pending_and_exits_0(tmp_path: Path) -> None:
    """Not bumped yet is no conflict: the report says what the next release must be."""
    old, new = _pair(tmp_path)
    result = _cli("check", "--baseline", str(old), "--current", str(new), "--version", "1.0.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Version 1.0.0: pending: major" in result.stdout
    assert "at least 2.0.0" in result.stdout
    assert "TOO SMALL" not in result.stdout
    document = json.loads(
        _cli("check", "--baseline", str(old), "--current", str(new), "--version", "1.0.0", "--json").stdout
    )
    assert (document["ok"], document["pending"], document["minimum_version"]) == (True, "major", "2.0.0")


def test_sufficient_bump_exits_0_and_json_is_machine_readable(tmp_path: Path) -> None:
    old, new = _pair(tmp_path)
    result = _cli("check", "--baseline", str(old), "--current", str(new), "--version", "2.0.0", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["required_bump"], report["minimum_version"]) == (True, "major", "2.0.0")
    kinds = {(c["kind"], c["table"], c["column"]) for c in report["changes"]}
    assert ("drop_column", "person", "nick") in kinds
    assert ("add_column_not_null", "person", "score") in kinds


def test_input_errors_exit_2(tmp_path: Path) -> None:
    missing = _cli("check", "--baseline", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr == f"orm-models: {tmp_path / 'nope.json'}: no such file\n"  # one line, no traceback
    unwritable = _cli(
        *("changelog", "--baseline", str(BASELINE), "--version", "9.0.0"),
        *("--write", str(tmp_path / "no-dir" / "CHANGELOG.md")),
    )
    assert unwritable.returncode == 2
    assert unwritable.stderr.startswith("orm-models: ")
    assert "No such file or directory" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr
    old, new = _pair(tmp_path)
    bad = _cli("check", "--baseline", str(old), "--current", str(new), "--version", "two")
    assert bad.returncode == 2
    assert "not a semantic version" in bad.stderr
    nowhere = _cli("check", cwd=tmp_path)
    assert nowhere.returncode == 2
    assert "no --baseline given and no schema-baseline.json" in nowhere.stderr


def test_check_of_the_installed_package_against_the_committed_baseline(postgres_url: str) -> None:
    last_release = json.loads(BASELINE.read_text(encoding="utf-8"))["version"]
    # Run where a user runs it: in orm-models/, finding the baseline by itself.
    result = _cli("check", "--database-url", postgres_url, cwd=PROJECT)
    assert f"baseline {last_release}" in result.stdout
    assert "the migrations and the models agree" in result.stdout, result.stdout + result.stderr
    assert "Required bump:" in result.stdout
    # The exit status agrees with the printed verdict, whatever the tree holds since the release.
    # Unreleased work on an unbumped version is "pending" (exit 0), not a conflict.
    verdict_ok = "Version " in result.stdout and (": OK" in result.stdout or ": pending: " in result.stdout)
    assert result.returncode == (0 if verdict_ok else 1), result.stdout + result.stderr


def test_changelog_names_tables_and_columns(tmp_path: Path) -> None:
    old, new = _pair(tmp_path)
    args = [
        "changelog",
        "--baseline",
        str(old),
        "--current",
        str(new),
        "--version",
        "2.0.0",
        "--date",
        "2026-01-02",
    ]
    section = _cli(*args).stdout
    assert section.startswith("## [2.0.0] - 2026-01-02")
    for expected in ("### Added", "### Removed", "column `person.score`", "column `person.nick`"):
        assert expected in section
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2025-01-01\n\n- first\n")
    assert _cli(*args, "--write", str(changelog)).returncode == 0
    assert _cli(*args, "--write", str(changelog)).returncode == 0  # a re-run changes nothing
    text = changelog.read_text()
    assert text.count("## [2.0.0]") == 1
    assert text.index("## [Unreleased]") < text.index("## [2.0.0]") < text.index("## [1.0.0]")


def test_manifest_command_writes_the_installed_manifest(tmp_path: Path) -> None:
    output = tmp_path / "baseline.json"
    result = _cli("manifest", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert json.loads(output.read_text())["tables"]["person"]["columns"]["family_name"]["nullable"] is True


def test_too_small_names_each_subject_once() -> None:
    """A removed attribute is both an API and a mapping change: the verdict names it once."""
    changes = [
        classify("api_removed", "m.Person.nick", "attribute removed"),
        classify("attribute_removed", "m.Person.nick", "no longer maps column nick"),
    ]
    result = CheckResult("baseline.json", "0001", "0001", changes, verdict("1.0.0", "1.1.0", changes))
    [line] = [line for line in to_table(result).splitlines() if "TOO SMALL" in line]
    assert line.endswith("need at least 2.0.0: m.Person.nick")


def test_explain_prints_the_rule_who_breaks_and_the_safe_route(tmp_path: Path) -> None:
    # No baseline is needed (and none is found in tmp_path) to explain a rule.
    result = _cli("check", "--explain", "enum_value_added", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("enum_value_added: major")
    assert "breaks: breaks old readers" in result.stdout
    assert "LookupError" in result.stdout
    assert "safe route:" in result.stdout
    unknown = _cli("check", "--explain", "no_such_rule", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no rule 'no_such_rule'" in unknown.stderr


def test_check_fails_on_two_revisions_with_one_id_until_the_later_is_renumbered(tmp_path: Path) -> None:
    """Two branches each ran `orm-models revision` and got the same next id; git merged them cleanly."""
    import re
    import shutil

    from orm_models.authoring.revision import next_revision_id
    from orm_models.schema.lint import head_of, lint_revisions
    from orm_models.schema.sources import revision_sources

    src = tmp_path / "src"
    shutil.copytree(PROJECT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    versions = src / "orm_models" / "migrations" / "versions"
    head, taken = head_of(lint_revisions(revision_sources(src))), next_revision_id(versions)
    for slug in ("add_nick", "add_score"):
        (versions / f"rev_{taken}_{slug}.py").write_text(
            f'revision = "{taken}"\ndown_revision = "{head}"\nphase = "expand"\n\n\n'
            "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
        )
    args = ["check", "--baseline", str(BASELINE), "--current", str(src), "--no-database"]

    merged = _cli(*args)
    assert merged.returncode == 1, merged.stdout + merged.stderr
    assert f"Migrations: UNSAFE - {taken}: duplicate_revision {taken}" in merged.stdout
    [line] = [line for line in merged.stdout.splitlines() if "UNSAFE duplicate_revision" in line]
    assert f"rev_{taken}_add_nick.py and rev_{taken}_add_score.py both say revision {taken}" in line

    # Do what the message says, and the tree checks clean again.
    route = re.search(
        r"git mv (\S+) (\S+), then in it set revision = \"(\w+)\" and down_revision = \"(\w+)\"", line
    )
    assert route is not None, line
    later, renamed, revision, down = route.groups()
    text = (versions / later).read_text()
    (versions / later).unlink()
    (versions / renamed).write_text(
        text.replace(f'revision = "{taken}"', f'revision = "{revision}"').replace(
            f'down_revision = "{head}"', f'down_revision = "{down}"'
        )
    )
    renumbered = _cli(*args)
    assert renumbered.returncode == 0, renumbered.stdout + renumbered.stderr
    assert "duplicate_revision" not in renumbered.stdout
    assert "second_head" not in renumbered.stdout
