"""A column type written in a revision (`sa.String(100)`), read with `ast` into the canonical
PostgreSQL spelling `type_changes.compare_types` judges, so the lint can tell a metadata-only
type change (VARCHAR widening) from one that rewrites the table."""

import ast

from .type_changes import TypeChange, compare_types
from .upgrade_calls import callee

# SQLAlchemy type names (generic and PostgreSQL's) by the family the lint can judge.
_VARCHAR = frozenset({"String", "VARCHAR", "Unicode", "NVARCHAR"})
_TEXT = frozenset({"Text", "TEXT", "UnicodeText"})
_NUMERIC = frozenset({"Numeric", "NUMERIC", "DECIMAL"})
# Arguments that change nothing PostgreSQL stores (only how Python sees the value).
_PYTHON_SIDE = frozenset({"asdecimal", "decimal_return_scale"})


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        return callee(node)
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _ints(node: ast.expr, names: tuple[str, ...]) -> list[int] | None:
    """The leading integer arguments `names` (positional or keyword) of a type call; None when
    anything else is given (a collation, a variable, a later one without the earlier): the lint
    cannot judge that type."""
    if not isinstance(node, ast.Call):
        return []
    if len(node.args) > len(names) or any(k.arg is None for k in node.keywords):
        return None
    given: dict[str, ast.expr] = dict(zip(names, node.args, strict=False))
    given |= {k.arg: k.value for k in node.keywords if k.arg is not None}
    values: list[int] = []
    for name in names:
        value = given.pop(name, None)
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            break
        if not (isinstance(value, ast.Constant) and type(value.value) is int):
            return None
        values.append(value.value)
    if set(given) - _PYTHON_SIDE or any(name in given for name in names):
        return None
    return values


def spelling(node: ast.expr | None) -> str | None:
    """`VARCHAR(100)`, `TEXT`, `NUMERIC(10, 2)` for a type the lint can read, else None."""
    if node is None:
        return None
    name = _name(node)
    if name in _TEXT:
        return "TEXT" if _ints(node, ()) == [] else None
    if name in _VARCHAR:
        length = _ints(node, ("length",))
        return None if length is None else f"VARCHAR({length[0]})" if length else "VARCHAR"
    if name in _NUMERIC:
        digits = _ints(node, ("precision", "scale"))
        if digits is None:
            return None
        return "NUMERIC" + (f"({', '.join(map(str, digits))})" if digits else "")
    return None


def metadata_only(existing: ast.expr | None, new: ast.expr | None) -> bool:
    """Whether changing a column from type `existing` to `new` leaves its rows as they are:
    PostgreSQL then changes only the catalog, without rewriting or scanning the table."""
    old_spelling, new_spelling = spelling(existing), spelling(new)
    if old_spelling is None or new_spelling is None:
        return False
    return compare_types(old_spelling, new_spelling) in {TypeChange.WIDEN, TypeChange.EQUIVALENT}
