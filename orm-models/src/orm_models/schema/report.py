"""Render a check result for people (a table) and for machines (JSON)."""

import json
from dataclasses import dataclass, field
from typing import Any

from .changes import Bump, Change
from .lint import RevisionLint
from .versioning import Verdict
from .witnesses import WitnessReport


@dataclass
class CheckResult:
    """Everything `orm-models check` found.

    Attributes:
        baseline: Where the baseline came from (a path, for messages).
        changes: Classified changes, baseline -> current.
        verdict: The version gate's outcome.
        revisions: Lint of the revisions added since the baseline's migration head.
        attribution: Subject of each schema change -> revisions that act on its table/column.
    """

    baseline: str
    baseline_head: str | None
    current_head: str | None
    changes: list[Change]
    verdict: Verdict
    revisions: list[RevisionLint] = field(default_factory=list)
    attribution: dict[str, list[str]] = field(default_factory=dict)
    drift: list[str] | None = None
    """Where migrations and models disagree; None when no database was compared."""
    witnesses: WitnessReport | None = None
    """What the witnesses ran and found; None when they did not run."""

    @property
    def unwitnessed(self) -> list[Change]:
        """Major schema changes of a compared fact that no witness reproduced (a person decides)."""
        if self.witnesses is None or not self.witnesses.ran:
            return []
        witnessed = {(e.table, e.column) for e in self.witnesses.evidence}
        tables = {table for table, _column in witnessed}

        def reproduced(change: Change) -> bool:
            # A table-level change (a constraint, an index) is reproduced by any evidence on its table.
            table = change.table or change.subject.split(":", 1)[0]
            return (table, change.column) in witnessed or (change.column is None and table in tables)

        return [
            c
            for c in self.changes
            # Schema changes only: the witnesses exercise tables, not the Python API.
            if c.bump is Bump.MAJOR and c.table and not c.kind.startswith("witness_") and not reproduced(c)
        ]

    @property
    def unsafe(self) -> list[tuple[str, str]]:
        """(revision, finding) for every unsafe operation that no `unsafe_ok` accepts."""
        return [(r.revision, f.key) for r in self.revisions for f in r.unsafe]

    @property
    def ok(self) -> bool:
        """The version satisfies the required bump, no revision is unsafe without a reason, and
        the migrations agree with the models."""
        return self.verdict.ok and not self.unsafe and not self.drift


def attribute(changes: list[Change], revisions: list[RevisionLint]) -> dict[str, list[str]]:
    """Which new revisions act on the table (and column) of each schema change.

    A change of a column needs a revision acting on that column (or the whole table); a change of
    the table itself (a trigger, an index, a constraint) any revision acting on the table, e.g.
    the rename's expand, which adds a column and creates its sync trigger in SQL.
    """
    result = {}
    for change in changes:
        if change.table is None:
            continue
        result[change.subject] = [
            r.revision
            for r in revisions
            if (change.table, change.column) in r.touches
            or (change.table, None) in r.touches
            or (change.column is None and any(table == change.table for table, _ in r.touches))
        ]
    return result


def to_json(result: CheckResult) -> str:
    """The machine-readable report (stable keys, sorted)."""
    verdict = result.verdict
    document: dict[str, Any] = {
        "ok": result.ok,
        "baseline": result.baseline,
        "baseline_version": verdict.baseline_version,
        "version": verdict.version,
        "required_bump": str(verdict.required),
        "minimum_version": verdict.minimum_version,
        "version_ok": verdict.ok,
        "pending": str(verdict.required) if verdict.pending else None,
        "baseline_migration_head": result.baseline_head,
        "migration_head": result.current_head,
        "changes": [
            {
                "kind": c.kind,
                "subject": c.subject,
                "table": c.table,
                "column": c.column,
                "detail": c.detail,
                "bump": str(c.bump),
                "impacts": sorted(str(i) for i in c.impacts),
                "section": str(c.section),
                "route": c.route,
                "revisions": result.attribution.get(c.subject, []),
            }
            for c in result.changes
        ],
        "database_compared": result.drift is not None,
        "witnesses": _witness_document(result),
        "drift": result.drift or [],
        "revisions": [
            {
                "revision": r.revision,
                "phase": r.phase,
                "file": r.filename,
                "findings": [
                    {"key": f.key, "problem": f.problem, "route": f.route, "accepted": f.accepted}
                    for f in r.findings
                ],
            }
            for r in result.revisions
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True)


def to_table(result: CheckResult) -> str:
    """The report for people: one row per change, the verdict, the migration lint."""
    verdict = result.verdict
    lines = [
        f"orm-models check: baseline {verdict.baseline_version} ({result.baseline}, migration head "
        f"{result.baseline_head}) -> current {verdict.version} (migration head {result.current_head})",
        "",
    ]
    if result.changes:
        rows = [("BUMP", "CHANGE", "SUBJECT", "IMPACT / DETAIL")]
        for c in sorted(result.changes, key=lambda c: (-c.bump, c.kind, c.subject)):
            impact = ", ".join(sorted(str(i) for i in c.impacts)) or "-"
            rows.append((str(c.bump), c.kind, c.subject, f"{impact}; {c.detail}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines += [f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows]
        routes = sorted({(c.subject, c.route) for c in result.changes if c.route and c.impacts})
        if routes:
            lines += ["", "Safe routes:"] + [f"  {subject}: {route}" for subject, route in routes]
    else:
        lines.append("  no changes")
    lines += ["", *_lint_lines(result), "", *_database_lines(result), "", *_witness_lines(result), ""]
    lines.append(
        f"Required bump: {verdict.required} "
        f"(from {verdict.baseline_version}: at least {verdict.minimum_version})"
    )
    if verdict.pending:
        lines.append(
            f"Version {verdict.version}: pending: {verdict.required} - not bumped yet (no conflict); the "
            f"next release must be at least {verdict.minimum_version}: `nox -s release -- {verdict.required}`"
        )
    elif verdict.ok:
        lines.append(f"Version {verdict.version}: OK")
    else:
        breaking = [c for c in result.changes if c.bump == verdict.required]
        named = ", ".join(dict.fromkeys(c.subject for c in breaking))  # once each, in report order
        lines.append(
            f"Version {verdict.version}: TOO SMALL - {verdict.required} changes need at least "
            f"{verdict.minimum_version}: {named}"
        )
    if result.unsafe:
        lines.append("Migrations: UNSAFE - " + "; ".join(f"{rev}: {key}" for rev, key in result.unsafe))
    return "\n".join(lines)


def _database_lines(result: CheckResult) -> list[str]:
    if result.drift is None:
        return ["Database: not compared (--no-database, or --current is a manifest file: no migrations)"]
    if not result.drift:
        return ["Database: migrated to both heads; the migrations and the models agree"]
    return ["Database: MIGRATIONS AND MODELS DISAGREE:", *(f"  {line}" for line in result.drift)]


def _lint_lines(result: CheckResult) -> list[str]:
    if not result.revisions:
        return ["Migration lint: no new revisions since the baseline"]
    lines = ["Migration lint (revisions since the baseline):"]
    for revision in result.revisions:
        status = "unsafe" if revision.unsafe else "ok"
        lines.append(f"  {revision.revision} ({revision.phase}, {revision.filename}): {status}")
        for finding in revision.findings:
            if finding.accepted:
                lines.append(f"    accepted {finding.key}: {finding.problem} - reason: {finding.accepted}")
            else:
                lines.append(f"    UNSAFE {finding.key}: {finding.problem}; safe route: {finding.route}")
    for subject, revisions in sorted(result.attribution.items()):
        if not revisions:
            lines.append(f"  warning: no new revision acts on {subject}")
    return lines


def _witness_document(result: CheckResult) -> dict[str, Any] | None:
    report = result.witnesses
    if report is None:
        return None
    return {
        "ran": report.ran,
        "skipped": report.skipped,
        "evidence": [
            {
                "witness": e.witness,
                "class": e.class_name,
                "table": e.table,
                "column": e.column,
                "operation": e.operation,
                "outcome": e.outcome,
            }
            for e in report.evidence
        ],
        "unwitnessed_major": [{"kind": c.kind, "subject": c.subject} for c in result.unwitnessed],
    }


def _witness_lines(result: CheckResult) -> list[str]:
    report = result.witnesses
    if report is None:
        return ["Witnesses: not run (--no-witnesses, or no database)"]
    lines = ["Witnesses:"]
    lines += [f"  ran {name}: {what}" for name, what in report.ran.items()]
    lines += [f"  skipped {name}: {why}" for name, why in report.skipped.items()]
    if report.evidence:
        lines.append("  BROKEN (each a major change):")
        lines += [f"    {e.witness}: {e.class_name}: {e.operation}: {e.outcome}" for e in report.evidence]
    elif report.ran:
        lines.append("  no operation broke")
    for change in result.unwitnessed:
        lines.append(
            f"  major by rule {change.kind} on {change.subject}, reproduced by no witness: "
            f"a person decides (orm-models check --explain {change.kind})"
        )
    return lines
