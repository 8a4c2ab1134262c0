"""Migration lint: does each revision take the safe route for what it changes?

Revisions are read with `ast`, never imported, so old releases and wheels can be linted too.
A revision may accept a finding by declaring, at module level::

    unsafe_ok = {"create_index ix_person_email": "person has < 10k rows; the lock lasts ms"}

The key is the finding's `key` (`<operation> <target>`), the value the reason, which the report
prints. Contract revisions list what they remove in `drops = ("table.column", ...)`, which is
how the contract guard knows which clients to wait for; a drop missing from it is a finding.
"""

import ast
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .ast_types import metadata_only
from .raw_ddl import raw_ddl
from .upgrade_calls import UpgradeCall, callee, keyword, upgrade_calls

_CONCURRENTLY = "postgresql_concurrently"
_NOT_VALID = "postgresql_not_valid"
_OBJECT = r'(?:"?\w+"?\.)?"?(\w+)"?'  # ix_person, "ix_person", public.ix_person: the last part
_RAW_INDEX = re.compile(
    rf"\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)(?:IF\s+NOT\s+EXISTS\s+)?(?:(?!ON\b){_OBJECT})?",
    re.IGNORECASE,
)
_RAW_DROP_INDEX = re.compile(rf"\bDROP\s+INDEX\s+(?!CONCURRENTLY)(?:IF\s+EXISTS\s+)?{_OBJECT}", re.IGNORECASE)
_WRITE = re.compile(r"^\s*(?:WITH\b.*?\)\s*)?(UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE | re.DOTALL)
# What bounds one statement to a batch: a LIMIT (in a sub-select), or a key range.
_BATCHED = re.compile(r"\bLIMIT\b|\bBETWEEN\b|\b\w+\s*(<|>|<=|>=)\s*[:\w]", re.IGNORECASE)
# One constraint an ALTER TABLE adds, named or not, up to the next clause or statement.
_RAW_CONSTRAINT = re.compile(
    r'\bADD\s+(?:CONSTRAINT\s+"?(?P<name>\w+)"?\s+)?'
    r"(?P<kind>CHECK|FOREIGN\s+KEY|UNIQUE|PRIMARY\s+KEY|EXCLUDE)\b"
    r"(?P<rest>.*?)(?=;|,\s*(?:ADD|ALTER|DROP|VALIDATE|RENAME)\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_ALTERED_TABLE = re.compile(rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_OBJECT}", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """Something a revision does unsafely.

    Attributes:
        operation: The Alembic operation, e.g. `create_index`.
        target: What it acts on: `table`, `table.column` or a constraint/index name.
        problem: What goes wrong on a live database.
        route: The safe way to do the same thing.
        accepted: The reason from the revision's `unsafe_ok`, when it accepts the finding.
        alias: The key before the lint named raw SQL's objects, still accepted when unambiguous.
    """

    operation: str
    target: str
    problem: str
    route: str
    accepted: str | None = None
    alias: str | None = None

    @property
    def key(self) -> str:
        """How `unsafe_ok` names this finding."""
        return f"{self.operation} {self.target}"


@dataclass
class RevisionLint:
    """The lint result of one revision file."""

    revision: str
    down_revision: str | None
    phase: str
    filename: str
    findings: list[Finding] = field(default_factory=list)
    touches: set[tuple[str, str | None]] = field(default_factory=set)
    """(table, column or None) pairs the upgrade acts on, to attribute schema changes to it."""
    accepts: dict[str, str] = field(default_factory=dict)
    """The revision's `unsafe_ok`: finding key -> the reason it is acceptable."""

    @property
    def unsafe(self) -> list[Finding]:
        """Findings the revision does not accept."""
        return [finding for finding in self.findings if finding.accepted is None]

    def _report(self, finding: Finding) -> None:
        """Record `finding`, with the reason when the revision's `unsafe_ok` accepts it."""
        self.findings.append(replace(finding, accepted=self.accepts.get(finding.key)))


def _text(node: ast.AST | None) -> str:
    """A literal string argument, seeing through `op.f("name")`; `?` when not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args:
        return _text(node.args[0])
    return "?"


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _module_literal(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    return None


def lint_revision(source: str, filename: str = "<revision>") -> RevisionLint:
    """Lint the `upgrade()` of one revision module given as source text.

    Raises:
        ValueError: The file is not a revision (no `revision` identifier).
    """
    tree = ast.parse(source, filename)
    revision = _module_literal(tree, "revision")
    if not isinstance(revision, str):
        raise ValueError(f"{filename}: no `revision` identifier")
    result = RevisionLint(
        revision=revision,
        down_revision=_module_literal(tree, "down_revision"),
        phase=str(_module_literal(tree, "phase") or "expand"),
        filename=filename,
        accepts=_module_literal(tree, "unsafe_ok") or {},
    )
    drops = set(_module_literal(tree, "drops") or ())
    calls = upgrade_calls(tree)
    raw_sql = " ".join(call.sql for call in calls if call.sql is not None)
    # NOT VALID then VALIDATE in the same revision is the safe route to a NOT NULL or a constraint.
    validated = bool(re.search(r"NOT\s+VALID", raw_sql, re.I)) and "VALIDATE" in raw_sql.upper()
    created: set[str] = set()
    for call in calls:
        for finding in _check(call, result, created, drops, validated, raw_sql):
            result._report(finding)
    _accept_by_alias(result)
    return result


def _accept_by_alias(result: RevisionLint) -> None:
    """Accept a finding by its older, nameless key (`execute ADD CONSTRAINT`) only while no other
    finding of the revision has that key too: then the reason could be meant for either."""
    aliases = [finding.alias for finding in result.findings]
    for index, finding in enumerate(result.findings):
        if finding.accepted is None and finding.alias is not None and aliases.count(finding.alias) == 1:
            result.findings[index] = replace(finding, accepted=result.accepts.get(finding.alias))


def _check(
    operation: UpgradeCall,
    result: RevisionLint,
    created: set[str],
    drops: set[str],
    validated: bool,
    raw_sql: str,
) -> list[Finding]:
    name, call = operation.name, operation.node
    args = call.args
    table = _text(args[0]) if args else "?"
    contract = result.phase == "contract"
    if name == "create_table":
        created.add(table)
        result.touches.add((table, None))
        return []
    if name == "add_column" and len(args) > 1 and isinstance(args[1], ast.Call):
        column_call = args[1]
        column = _text(column_call.args[0]) if column_call.args else "?"
        result.touches.add((table, column))
        nullable = keyword(column_call, "nullable")
        not_null = isinstance(nullable, ast.Constant) and nullable.value is False
        # Identity() and Computed() fill the column on the server like a server default does.
        has_default = keyword(column_call, "server_default") is not None or any(
            callee(a) in {"Identity", "Computed"} for a in column_call.args
        )
        if not_null and not has_default and table not in created:
            return [
                Finding(
                    name,
                    f"{table}.{column}",
                    "adds a NOT NULL column without a server default: inserts by old writers fail",
                    "add it nullable (or with a server default), backfill, tighten later",
                )
            ]
        return []
    if name in {"drop_column", "drop_table"}:
        target = f"{table}.{_text(args[1])}" if name == "drop_column" and len(args) > 1 else table
        return _drop(name, target, result, drops)
    if name in {"create_index", "drop_index"}:
        index = _text(args[0]) if args else "?"
        on = _text(args[1]) if len(args) > 1 else _text(keyword(call, "table_name"))
        result.touches.add((on, None))
        if on in created or _true(keyword(call, _CONCURRENTLY)):
            return []
        verb = "CREATE" if name == "create_index" else "DROP"
        return [
            Finding(
                name,
                index,
                f"{verb} INDEX without CONCURRENTLY blocks writes to {on} while it runs",
                f"op.{name}(..., postgresql_concurrently=True) inside op.get_context().autocommit_block()",
            )
        ]
    if name == "alter_column":
        column = _text(args[1]) if len(args) > 1 else "?"
        result.touches.add((table, column))
        return _alter_column(call, f"{table}.{column}", validated)
    if name == "rename_table":
        result.touches.add((table, None))
        return [Finding(name, table, *_RENAME_TABLE)]
    if name in {"create_unique_constraint", "create_primary_key"}:
        on = _text(args[1]) if len(args) > 1 else "?"
        result.touches.add((on, None))
        if on in created:
            return []
        kind = "UNIQUE" if name == "create_unique_constraint" else "PRIMARY KEY"
        return [
            Finding(
                name,
                _text(args[0]),
                f"builds a unique index on {on} under a lock that blocks writes",
                f"CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... {kind} USING INDEX",
            )
        ]
    if name == "create_exclude_constraint":
        on = _text(args[1]) if len(args) > 1 else "?"
        result.touches.add((on, None))
        if on in created:
            return []
        return [
            Finding(
                name,
                _text(args[0]),
                f"builds its index on {on} under a lock that blocks writes",
                _EXCLUDE_ROUTE,
            )
        ]
    if name in {"create_foreign_key", "create_check_constraint"}:
        on = _text(args[1]) if len(args) > 1 else "?"
        result.touches.add((on, None))
        if on in created or _true(keyword(call, _NOT_VALID)) or validated:
            return []
        return [
            Finding(
                name,
                _text(args[0]),
                f"validates every row of {on} while holding a lock",
                "create it with postgresql_not_valid=True, then VALIDATE CONSTRAINT",
            )
        ]
    if name == "execute" and operation.sql is not None:
        sql = operation.sql
        if sql == "?":  # a variable or an expression: whatever it holds, the checks below are blind
            return [
                Finding(
                    name,
                    "<computed SQL>",
                    "SQL computed at run time cannot be linted",
                    "pass the SQL as a string literal, or accept it in `unsafe_ok` saying what it does",
                )
            ]
        return _raw_ddl(sql, result, drops, validated) + _raw_sql(sql, contract, created)
    return []


def _raw_sql(sql: str, contract: bool, created: set[str]) -> list[Finding]:
    """The lock-taking statements in `sql`: an unbatched write (expand only), a plain CREATE or
    DROP INDEX, a constraint checked against every row as it is added."""
    if not contract and (statement := _full_table_write(sql)):
        return [
            Finding(
                "execute",
                statement,
                "one statement rewrites every matching row of a live table: its row locks block "
                "writers until the revision commits, and it bloats the table",
                "batch it and commit each batch: UPDATE ... WHERE id IN (SELECT id ... LIMIT n) in a "
                "loop inside op.get_context().autocommit_block() until no row changes, the revision "
                "re-runnable (`orm-models revision --rename` writes one)",
            )
        ]
    if match := _RAW_INDEX.search(sql):
        return [
            _named(
                "CREATE INDEX",
                match.group(2),
                "raw CREATE INDEX without CONCURRENTLY blocks writes",
                "CREATE INDEX CONCURRENTLY in an autocommit block",
            )
        ]
    if match := _RAW_DROP_INDEX.search(sql):
        return [
            _named(
                "DROP INDEX",
                match.group(1),
                "raw DROP INDEX without CONCURRENTLY blocks reads and writes of its table",
                "DROP INDEX CONCURRENTLY in an autocommit block",
            )
        ]
    return _raw_constraints(sql, created)


def _named(what: str, name: str | None, problem: str, route: str) -> Finding:
    """A raw-SQL finding keyed by the object it creates (`execute CREATE INDEX ix_person_email`):
    accepting one statement in `unsafe_ok` must not accept another of the same kind. The key
    without the name, from before 2.5, still accepts it while it is the only one of its kind."""
    target = f"{what} {name}" if name else what
    return Finding("execute", target, problem, route, alias=f"execute {what}" if name else None)


_EXCLUDE_ROUTE = (
    "PostgreSQL has no online route for EXCLUDE (no NOT VALID, no USING INDEX): add it while "
    "the table is small, or accept it in `unsafe_ok` saying why the lock is short"
)


def _raw_constraints(sql: str, created: set[str]) -> list[Finding]:
    """Each constraint `sql` adds to an existing table the way that checks every row under a lock."""
    findings = []
    for clause in _RAW_CONSTRAINT.finditer(sql):
        tables = _ALTERED_TABLE.findall(sql, 0, clause.start())
        table = tables[-1] if tables else "?"
        kind = " ".join(clause.group("kind").upper().split())
        if table in created or (created and table == "?"):
            continue
        rest = clause.group("rest")
        if kind in {"CHECK", "FOREIGN KEY"} and not re.search(r"\bNOT\s+VALID\b", rest, re.I):
            problem, route = (
                f"raw ADD CONSTRAINT ... {kind} validates every row of {table} under a lock",
                f"ADD CONSTRAINT ... {kind} ... NOT VALID, then VALIDATE CONSTRAINT",
            )
        elif kind in {"UNIQUE", "PRIMARY KEY"} and not re.match(r"\s*USING\s+INDEX\b", rest, re.I):
            # NOT VALID does not exist for these: the index is built first, without a lock.
            problem, route = (
                f"raw ADD CONSTRAINT ... {kind} builds its index on {table} under a lock that blocks writes",
                f"CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... {kind} USING INDEX",
            )
        elif kind == "EXCLUDE":
            problem, route = (
                f"raw ADD CONSTRAINT ... EXCLUDE builds its index on {table} under a lock that blocks writes",
                _EXCLUDE_ROUTE,
            )
        else:
            continue
        findings.append(_named("ADD CONSTRAINT", clause.group("name"), problem, route))
    return findings


def _drop(name: str, target: str, result: RevisionLint, drops: set[str]) -> list[Finding]:
    """A column (`table.column`) or table dropped: only in a contract, which lists it in `drops`."""
    table, _, column = target.partition(".")
    result.touches.add((table, column or None))
    if result.phase != "contract":
        return [Finding(name, target, "removes data in an expand revision", "move it to a contract revision")]
    if target not in drops:
        return [
            Finding(
                name,
                target,
                "contract revision does not list it in `drops`: the guard cannot protect its readers",
                f"add {target!r} to `drops`",
            )
        ]
    return []


def _raw_ddl(sql: str, result: RevisionLint, drops: set[str], validated: bool) -> list[Finding]:
    """What `sql` drops, renames or tightens, judged as the Alembic operation doing the same is."""
    findings: list[Finding] = []
    for ddl in raw_ddl(sql):
        target = f"{ddl.table}.{ddl.column}" if ddl.column else ddl.table
        if ddl.operation in {"drop_column", "drop_table"}:
            findings += _drop(ddl.operation, target, result, drops)
            continue
        result.touches.add((ddl.table, ddl.column))
        if ddl.operation == "rename_table":
            findings.append(Finding(ddl.operation, target, *_RENAME_TABLE))
        elif ddl.change is not None and not (ddl.change == "not_null" and validated):
            findings.append(Finding(ddl.operation, target, *_ALTER[ddl.change]))
    return findings


def _full_table_write(sql: str) -> str | None:
    """`UPDATE table` / `DELETE table` when `sql` writes rows of a table without a batch bound."""
    match = _WRITE.search(sql)
    if match is None or _BATCHED.search(sql):
        return None
    verb = "UPDATE" if match.group(1).upper() == "UPDATE" else "DELETE"
    return f"{verb} {match.group(2)}"


_RENAME_TABLE = (
    "renames a table in place: every client on the old release breaks",
    "new table + dual-write + backfill (expand), drop the old (contract)",
)
# alter_column's findings: (problem, safe route) by what it changes.
_ALTER = {
    "not_null": (
        "SET NOT NULL scans the whole table under an exclusive lock",
        "CHECK (col IS NOT NULL) NOT VALID, backfill, VALIDATE CONSTRAINT, then SET NOT NULL",
    ),
    "type": (
        "a type change may rewrite the table under an exclusive lock",
        "metadata-only changes (VARCHAR widening) are fine; otherwise new column + backfill",
    ),
    "rename": (
        "renames a column in place: every client on the old release breaks",
        "new column + dual-write + backfill (expand), drop the old (contract)",
    ),
}


def _alter_column(call: ast.Call, target: str, validated: bool) -> list[Finding]:
    nullable = keyword(call, "nullable")
    changes = {
        "not_null": isinstance(nullable, ast.Constant) and nullable.value is False and not validated,
        "type": keyword(call, "type_") is not None and not _metadata_only_type_change(call),
        "rename": keyword(call, "new_column_name") is not None,
    }
    return [Finding("alter_column", target, *_ALTER[change]) for change, made in changes.items() if made]


def _metadata_only_type_change(call: ast.Call) -> bool:
    """Autogenerate's `existing_type=sa.String(100), type_=sa.String(200)`: a widening PostgreSQL
    makes in its catalog alone. A USING clause converts every row, so it never is."""
    if keyword(call, "postgresql_using") is not None:
        return False
    return metadata_only(keyword(call, "existing_type"), keyword(call, "type_"))


def lint_revisions(sources: dict[str, str]) -> list[RevisionLint]:
    """Lint every revision in `sources` (file name -> text), oldest first.

    Files without a `revision` (e.g. `__init__.py`) are skipped.
    """
    results = []
    for filename, text in sorted(sources.items()):
        try:
            results.append(lint_revision(text, filename))
        except ValueError:
            continue
    _report_forks(results)
    return _in_upgrade_order(results)


# Findings of the tree's shape, not of one upgrade: no `unsafe_ok` accepts them.
_TREE_FINDINGS = frozenset({"duplicate_revision", "second_head"})


def _report_forks(results: list[RevisionLint]) -> None:
    """Two revisions with one id, or two of one phase after the same revision: what two branches
    that each ran `orm-models revision` leave after a clean git merge. Alembic then refuses to
    upgrade (or stops at one of the heads), so the later file by name gets a finding."""
    first_by_id: dict[str, RevisionLint] = {}
    first_after: dict[tuple[str, str], RevisionLint] = {}
    for result in results:  # sorted by file name: the later file is the one to renumber
        if (earlier := first_by_id.setdefault(result.revision, result)) is not result:
            problem = f"{earlier.filename} and {result.filename} both say revision {result.revision}"
            result.findings.append(_fork("duplicate_revision", problem, earlier, result, results))
            continue
        for parent in _parents(result):
            if (earlier := first_after.setdefault((result.phase, parent), result)) is not result:
                problem = (
                    f"{earlier.filename} and {result.filename} both come after {parent}: "
                    f"the {result.phase} branch has two heads"
                )
                result.findings.append(_fork("second_head", problem, earlier, result, results))


def _fork(
    operation: str, problem: str, earlier: RevisionLint, later: RevisionLint, results: list[RevisionLint]
) -> Finding:
    """The finding on `later`, with the renumbering that chains it after the branch's head."""
    head = _branch_head(earlier, later, results)
    if operation == "second_head":
        route = (
            f'chain the later one after the branch\'s head: in {later.filename} set down_revision = "{head}"'
        )
        return Finding(operation, later.revision, problem, route)
    # The next number past every id's leading one, as `orm-models revision` numbers a new file.
    numbers = [int(match.group()) for r in results if (match := re.match(r"\d+", r.revision))]
    free = str(max(numbers) + 1).zfill(len(later.revision)) if later.revision.isdigit() else "<next id>"
    renamed = later.filename.replace(later.revision, free, 1)
    route = (
        f"renumber the later one: git mv {later.filename} {renamed}, then in it set "
        f'revision = "{free}" and down_revision = "{head}"'
    )
    return Finding(operation, later.revision, problem, route)


def _branch_head(start: RevisionLint, skip: RevisionLint, results: list[RevisionLint]) -> str:
    """The newest revision of `start`'s phase that follows `start`, leaving `skip` out."""
    head, seen = start, {start.revision}
    while child := next(
        (
            r
            for r in results
            if r is not skip
            and r.phase == start.phase
            and head.revision in _parents(r)
            and r.revision not in seen
        ),
        None,
    ):
        head = child
        seen.add(child.revision)
    return head.revision


def _parents(result: RevisionLint) -> tuple[str, ...]:
    down = result.down_revision
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def _in_upgrade_order(results: list[RevisionLint]) -> list[RevisionLint]:
    """Every parent before its children; siblings (the expand and contract branches) by file name."""
    by_id = {result.revision: result for result in results}
    ordered: list[RevisionLint] = []
    placed: set[str] = set()
    waiting = sorted(results, key=lambda r: r.filename)
    while waiting:
        ready = [r for r in waiting if all(p in placed or p not in by_id for p in _parents(r))]
        if not ready:  # pragma: no cover - a cycle; Alembic would refuse it too
            ordered += waiting
            break
        ordered.append(ready[0])
        placed.add(ready[0].revision)
        waiting.remove(ready[0])
    return ordered


def heads_of(results: list[RevisionLint]) -> str | None:
    """Every head of the revisions (no other one comes after it), sorted, space-separated.

    From 2.5 the tree has two branches, expand and contract: "0003 0004" for its first release.
    """
    parents = {parent for result in results for parent in _parents(result)}
    heads = sorted(result.revision for result in results if result.revision not in parents)
    return " ".join(heads) or None


def head_of(results: list[RevisionLint]) -> str | None:
    """The expand branch's head: what a new expand revision comes after."""
    parents = {parent for result in results for parent in _parents(result)}
    heads = [r.revision for r in results if r.revision not in parents and r.phase != "contract"]
    return heads[-1] if heads else None


def _descendants(results: list[RevisionLint], revision: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for result in results:
        for parent in _parents(result):
            children.setdefault(parent, []).append(result.revision)
    found: set[str] = set()
    stack = list(children.get(revision, ()))
    while stack:
        child = stack.pop()
        if child not in found:
            found.add(child)
            stack += children.get(child, ())
    return found


def since(results: list[RevisionLint], revision: str | None) -> list[RevisionLint]:
    """The revisions after `revision` (all of them when it is None or unknown)."""
    ids = [result.revision for result in results]
    return results[ids.index(revision) + 1 :] if revision in ids else list(results)


def unreleased(
    results: list[RevisionLint], released: list[str] | None, head: str | None
) -> list[RevisionLint]:
    """The revisions a release did not ship, given its revision ids (else its head only).

    A new revision placed *before* a released one gets an `insert_before` finding: a database
    already at that released revision counts it as applied and never runs it.
    """
    if released is None:  # a manifest from before 2.2 records only the head
        return since(results, head)
    shipped = set(released)
    new = []
    for result in results:
        forked = any(finding.operation in _TREE_FINDINGS for finding in result.findings)
        if result.revision in shipped and not forked:  # a new file reusing a released id is new
            continue
        after = _descendants(results, result.revision)
        skipped_by = next((later.revision for later in results if later.revision in after & shipped), None)
        if skipped_by is not None:
            finding = Finding(
                "insert_before",
                skipped_by,
                f"databases already at {skipped_by} or later never run it",
                "chain it after the newest released revision, or accept it in `unsafe_ok` "
                f"when a database past {skipped_by} needs none of it",
            )
            result._report(finding)
        new.append(result)
    return new
