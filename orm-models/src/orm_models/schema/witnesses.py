"""Witnesses: evidence for the verdict from running code, beside the compared facts.

A list of compared facts is never complete; these run the code that a change could break and
report what actually fails (as cargo-semver-checks does with its witness programs):

- *old code, new schema*: the previous release (its own virtualenv, `previous_release.py`) runs
  `witness_program.py` on a database migrated to the candidate's expand head, and, as the
  control, on one at the previous release's head;
- *new code, old state*: the candidate runs it on a database whose contracts are held back (the
  expand head), and, as the control, on one migrated to every head.

An operation that works on the control but fails on the database under test, or that reads back
something else there, is a major change shown with the operation and the database's error. The
control keeps the witness honest: whatever the old schema already refused is no evidence.

*Old callers, new package* is the compat machinery (`nox -s compat`, every service's suite
against the candidate wheel); it needs the services and the index, so it stays out of `check`.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .changes import Bump, Change, Impact
from .dbcompare import error_line

_HERE = Path(__file__).resolve().parent
_PROGRAM = _HERE / "witness_program.py"
_DATABASES = _HERE / "witness_databases.py"
_TIMEOUT = 300

OLD_CODE = "old code, new schema"
NEW_CODE = "new code, old state"


@dataclass(frozen=True)
class Evidence:
    """One operation that behaved differently on the database under test than on the control."""

    witness: str
    class_name: str
    table: str
    column: str | None
    operation: str
    outcome: str
    """The database's error, or what was read back instead of what the control read."""


@dataclass
class WitnessReport:
    """What the witnesses ran and found.

    Attributes:
        ran: Witness -> a line on what it ran (code, databases, operation count).
        skipped: Witness -> why it did not run.
        evidence: Every operation that broke.
    """

    ran: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)

    def changes(self) -> list[Change]:
        """One major change per witness, table and outcome (the same error from several
        operations is one break); the subject names a column when an update of it broke."""
        groups: dict[tuple[str, str, str], list[Evidence]] = {}
        for e in self.evidence:
            groups.setdefault((e.witness, e.table, e.outcome), []).append(e)
        changes = []
        for (witness, table, outcome), found in groups.items():
            first = found[0]
            column = first.column if first.operation.startswith("update ") else None
            more = f" (and {len(found) - 1} more operations)" if len(found) > 1 else ""
            reads = first.operation.startswith(("read back", "walk"))
            changes.append(
                Change(
                    kind="witness_" + witness.replace(",", "").replace(" ", "_"),
                    subject=f"{table}.{column}" if column else table,
                    detail=f"{witness}: {first.class_name}: {first.operation}{more}: {outcome}",
                    bump=Bump.MAJOR,
                    impacts=frozenset({Impact.READERS if reads else Impact.WRITERS}),
                    route="expand/contract: keep every operation of the previous release working "
                    "until the contract phase (docs/schema-versioning.md, Witnesses)",
                    table=table,
                    column=column,
                )
            )
        return changes


def compare_runs(witness: str, control: list[dict[str, Any]], test: list[dict[str, Any]]) -> list[Evidence]:
    """The operations that worked on the control and failed, or read back otherwise, under test.

    An operation the control could not do either is no evidence; one the test never reached
    (its anchor row could not be inserted) is covered by the failure that stopped it, and so is a
    later read-back that differs only in a column whose update failed.
    """
    seen = {_key(record): record for record in control}
    failed_updates: set[tuple[str, str]] = set()
    evidence = []
    for record in test:
        before = seen.get(_key(record))
        if before is None or not before["ok"]:
            continue
        if not record["ok"]:
            outcome = str(record["error"])
            if record["operation"].startswith("update ") and record["column"]:
                failed_updates.add((record["class"], record["column"]))
        elif record["result"] != before["result"]:
            ignored = {column for cls, column in failed_updates if cls == record["class"]}
            differences = _differences(before["result"], record["result"], ignored)
            if not differences:
                continue
            outcome = f"read {differences}"
        else:
            continue
        evidence.append(
            Evidence(
                witness, record["class"], record["table"], record["column"], record["operation"], outcome
            )
        )
    return evidence


def _key(record: dict[str, Any]) -> tuple[str, str | None, str]:
    return record["class"], record["column"], record["operation"]


def _differences(expected: Any, got: Any, ignored: set[str] | None = None) -> str:
    if isinstance(expected, dict) and isinstance(got, dict):
        parts = [
            f"{name}={got.get(name)!r} where the control read {expected.get(name)!r}"
            for name in sorted(set(expected) | set(got))
            if expected.get(name) != got.get(name) and name not in (ignored or set())
        ]
        return "; ".join(parts)
    return f"{got!r} where the control read {expected!r}"


def _run(command: list[str], env: dict[str, str], what: str) -> Any:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=_TIMEOUT)
    if result.returncode != 0:
        raise ValueError(f"{what} failed: {error_line(result.stderr)}")
    return json.loads(result.stdout)


@contextmanager
def _databases(server: str, tree: Path, base_head: str | None, wanted: list[str]) -> Iterator[dict[str, Any]]:
    env = {**os.environ, "ORM_MODELS_CHECK_URL": server}
    made = _run(
        [sys.executable, str(_DATABASES), str(tree), base_head or "-", *wanted],
        env,
        "preparing the witness databases",
    )
    try:
        yield made
    finally:
        _drop(server, made["databases"].values())


def _drop(server: str, urls: Any) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for url in urls:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _witness(python: str, url: str, tree: Path | None, what: str) -> list[dict[str, Any]]:
    env = {**os.environ, "ORM_MODELS_WITNESS_URL": url}
    env.pop("PYTHONPATH", None)  # the code under test is the venv's (or the tree's), nothing else
    command = [python, str(_PROGRAM), *([str(tree)] if tree is not None else [])]
    records: list[dict[str, Any]] = _run(command, env, what)["records"]
    return records


def run_witnesses(
    server: str, tree: Path, baseline: Path, baseline_version: str, base_head: str | None
) -> WitnessReport:
    """Run both witnesses on `server` (see the module docstring) and collect their evidence."""
    from .previous_release import PreviousReleaseError, previous_release_python

    report = WitnessReport()
    wanted = ["new-control=head?", "new-test=expand?"]
    try:
        old_python, source = previous_release_python(baseline, baseline_version)
        wanted += ["old-control=base", "old-test=expand"]
    except PreviousReleaseError as error:
        old_python, source = None, ""
        report.skipped[OLD_CODE] = str(error)
    with _databases(server, tree, base_head, wanted) as made:
        urls = made["databases"]
        if old_python is not None:
            what = f"orm-models {baseline_version} ({source}) at {base_head} vs the candidate's expand head"
            what += f" {made['expand_head']}"
            _pair(report, OLD_CODE, str(old_python), None, urls["old-control"], urls["old-test"], what)
        if made["held_back"]:
            what = f"the candidate with contracts held back ({made['expand_head']}) vs every head"
            _pair(report, NEW_CODE, sys.executable, tree, urls["new-control"], urls["new-test"], what)
        else:
            report.skipped[NEW_CODE] = "no contract revision to hold back: the expand head is the head"
    return report


def _pair(
    report: WitnessReport,
    name: str,
    python: str,
    tree: Path | None,
    control_url: str,
    test_url: str,
    what: str,
) -> None:
    """Run one witness on its control and its test database; a program that cannot run is said so.

    Both runs go at once: each mostly waits on its own database.
    """
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(_witness, python, url, tree, label)
            for url, label in ((control_url, f"{name} (control)"), (test_url, name))
        ]
        try:
            control, test = (run.result() for run in runs)
        except (ValueError, subprocess.TimeoutExpired) as error:  # JSONDecodeError is a ValueError
            report.skipped[name] = f"FAILED TO RUN: {error}"
            return
    report.evidence += compare_runs(name, control, test)
    report.ran[name] = f"{what}: {len(test)} operations"
