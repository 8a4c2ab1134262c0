"""What a revision's `upgrade()` does, read with `ast`: its `op.<operation>(...)` calls, and the
SQL it sends (with `op.execute`, or on the migration's own connection: `op.get_bind()`)."""

import ast
from typing import NamedTuple


def callee(node: ast.AST) -> str:
    """The called name of a call (`create_index` of `op.create_index(...)`), else ""."""
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument `name` of `call`, if given."""
    return next((k.value for k in call.keywords if k.arg == name), None)


class UpgradeCall(NamedTuple):
    """One operation of the upgrade: an `op.<name>(...)` call, or SQL sent on `op.get_bind()`."""

    name: str
    node: ast.Call
    sql: str | None
    """The SQL an `execute` sends, `?` when the lint cannot read it; None for other operations."""


# What sends SQL on a connection: `op.execute` and, on `op.get_bind()` (or a name bound to it),
# `execute` and `exec_driver_sql`, all reported as `execute` (one `unsafe_ok` key for each).
_SENDS_SQL = frozenset({"execute", "exec_driver_sql"})
# Core constructs that read or add rows: they lock no existing row, as a literal SELECT/INSERT does not.
_READS_OR_ADDS = {"select": "SELECT", "insert": "INSERT"}
# Calls whose first argument is the SQL itself.
_TEXT_OF = frozenset({"text", "dedent", "DDL"})


def _op_call(node: ast.AST, name: str) -> bool:
    """`op.<name>(...)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "op"
    )


def _is_bind(node: ast.AST, binds: set[str]) -> bool:
    """A connection the migration runs on: `op.get_bind()`, `op.get_context().bind` or
    `.connection`, a name bound to one, or a `Session` made on one."""
    if _op_call(node, "get_bind") or (isinstance(node, ast.Name) and node.id in binds):
        return True
    if isinstance(node, ast.Attribute) and node.attr in {"bind", "connection"}:
        return _op_call(node.value, "get_context")
    if isinstance(node, ast.Call) and callee(node) == "Session":
        given = node.args[0] if node.args else keyword(node, "bind")
        return given is not None and _is_bind(given, binds)
    return False


def _assignments(scope: ast.AST, top_level_only: bool = False) -> list[tuple[str, ast.expr | None]]:
    """(name, value) of every assignment to a plain name in `scope`; value None when the name
    gets something the lint cannot follow (a loop variable, a tuple unpacked, `+=`)."""
    nodes = scope.body if top_level_only and isinstance(scope, ast.Module) else ast.walk(scope)
    found: list[tuple[str, ast.expr | None]] = []
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                single = isinstance(target, ast.Name)
                found += [(n, node.value if single else None) for n in _names(target)]
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and isinstance(node.target, ast.Name):
            found.append((node.target.id, node.value))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            single = isinstance(node.optional_vars, ast.Name)
            found += [(n, node.context_expr if single else None) for n in _names(node.optional_vars)]
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.comprehension):
            found += [(n, None) for n in _names(node.target)]
    return found


def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _binds(upgrade: ast.FunctionDef) -> set[str]:
    """Names the upgrade binds to its connection (`bind = op.get_bind()`, `conn = bind`, ...)."""
    assignments = [(name, value) for name, value in _assignments(upgrade) if value is not None]
    binds: set[str] = set()
    while new := {n for n, value in assignments if n not in binds and _is_bind(value, binds)}:
        binds |= new
    return binds


def _literals(tree: ast.Module, upgrade: ast.FunctionDef) -> dict[str, str]:
    """Names holding one SQL text the lint can read (`STATEMENT = "..."`, `stmt = sa.text("...")`),
    at module level or in the upgrade. A name assigned different things is not followed."""
    values: dict[str, list[ast.expr | None]] = {}
    for name, value in [*_assignments(tree, top_level_only=True), *_assignments(upgrade)]:
        values.setdefault(name, []).append(value)
    literals: dict[str, str] = {}
    for _ in range(len(values)):  # a name may hold another name's text: follow the chain
        found = {}
        for name, assigned in values.items():
            texts = {"?" if value is None else _sql(value, literals) for value in assigned}
            if len(texts) == 1 and "?" not in texts:
                found[name] = texts.pop()
        if found == literals:
            break
        literals = found
    return literals


def _sql(node: ast.AST, literals: dict[str, str]) -> str:
    """The SQL `node` holds: a string literal, a name holding one, `sa.text(...)` (and whatever
    is chained on it); `SELECT`/`INSERT` for those Core constructs; `?` when not readable."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return literals.get(node.id, "?")
    root = node
    while (
        isinstance(root, ast.Call)
        and isinstance(root.func, ast.Attribute)
        and isinstance(root.func.value, ast.Call)
    ):
        root = root.func.value  # sa.text("...").bindparams(...): the text is at the root
    if isinstance(root, ast.Call):
        if (verb := _READS_OR_ADDS.get(callee(root))) is not None:
            return verb
        if callee(root) in _TEXT_OF and root.args:
            return _sql(root.args[0], literals)
    return "?"  # e.g. sa.update(table).values(...): what it bounds is not read here


def upgrade_calls(tree: ast.Module) -> list[UpgradeCall]:
    """The operations the module's `upgrade()` performs, in source order."""
    upgrade = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    if upgrade is None:
        return []
    binds, literals = _binds(upgrade), _literals(tree, upgrade)
    calls = []
    for node in ast.walk(upgrade):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, name = node.func.value, node.func.attr
            if isinstance(owner, ast.Name) and owner.id == "op":
                sql = _sql(node.args[0], literals) if name == "execute" and node.args else None
                calls.append(UpgradeCall(name, node, sql))
            elif name in _SENDS_SQL and _is_bind(owner, binds) and node.args:
                calls.append(UpgradeCall("execute", node, _sql(node.args[0], literals)))
    # ast.walk is breadth-first; source order is what the upgrade does.
    return sorted(calls, key=lambda call: (call.node.lineno, call.node.col_offset))
