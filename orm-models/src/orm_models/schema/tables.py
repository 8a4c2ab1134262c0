"""Facts of a table as JSON: columns, keys, constraints, indexes, enums, sequences.

The same functions describe the models' `MetaData` and a `MetaData` reflected from a migrated
database (`dbcompare.py`), so the two can be diffed with the same rules. Every SQLAlchemy
attribute of these objects is either recorded here or listed as irrelevant, with the reason, in
docs/schema-versioning.md ("What the manifest records").
"""

import ast
import enum
import hashlib
import inspect
import textwrap
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Computed,
    Enum,
    ForeignKeyConstraint,
    Identity,
    Index,
    MetaData,
    Sequence,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ClauseElement

# PostgreSQL is the one dialect we run on, so its DDL spelling is the canonical text.
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]

PYTHON_ONLY = frozenset({"python_default", "python_onupdate", "server_onupdate", "autoincrement"})
"""Column facts a database cannot hold: left out when the models are compared with a database."""

# Dialect options that only say how DDL is *run*, not what it creates (see the docs for why),
# and `postgresql_ignore_search_path`: a *reflection* option that SQLAlchemy records on a table
# only when it was reached through another table's foreign key, so its presence depends on the
# order tables were reflected in, never on the schema.
_IGNORED_OPTIONS = frozenset(
    {"postgresql_concurrently", "postgresql_not_valid", "postgresql_ignore_search_path"}
)
# Defaults PostgreSQL reflects back explicitly; written out they mean the same as left out.
_DEFAULT_OPTIONS: dict[str, Any] = {
    "postgresql_using": "btree",
    "postgresql_include": [],
    "postgresql_nulls_not_distinct": False,
    "postgresql_with": {},
    "postgresql_ops": {},
}
REFERENCED_BY_NAME = "referenced_by_name"
"""`info` key of a constraint or index that some client names (e.g. `ON CONFLICT ON CONSTRAINT`)."""


def sql(element: Any) -> str:
    """PostgreSQL text of a SQL expression, with literal values inlined (deterministic)."""
    if isinstance(element, str):
        return element
    if isinstance(element, Column):
        return str(element.name)
    compiled = element.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
    return str(compiled)


def _plain(value: Any) -> Any:
    """A dialect option value as JSON: expressions as SQL text, containers sorted."""
    if isinstance(value, ClauseElement):
        return sql(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Column):
        return str(value.name)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def options(obj: Any) -> dict[str, Any]:
    """The dialect options set on a schema object (`postgresql_where=...`), minus defaults."""
    found = {}
    for key, value in sorted(obj.dialect_kwargs.items()):
        plain = _plain(value)
        if key in _IGNORED_OPTIONS or plain is None or plain == _DEFAULT_OPTIONS.get(key):
            continue
        found[key] = plain
    return found


def canonical_type(column: Column[Any]) -> str:
    """The column's type as PostgreSQL DDL spells it (an enum as `ENUM name`, values aside)."""
    if isinstance(column.type, Enum) and column.type.native_enum:
        return f"ENUM {column.type.name}"
    return str(column.type.compile(dialect=_DIALECT))


def _enum(column: Column[Any]) -> dict[str, Any] | None:
    kind = column.type
    if not isinstance(kind, Enum):
        return None
    enum_class = kind.enum_class
    return {
        "values": list(kind.enums),
        "native": bool(kind.native_enum),
        "check_constraint": bool(kind.create_constraint) and not kind.native_enum,
        # Python side: what old callers get back and may pass in.
        "python_class": f"{enum_class.__module__}.{enum_class.__qualname__}" if enum_class else None,
        "validate_strings": bool(kind.validate_strings),
    }


def _python_default(default: Any) -> str | None:
    """A Python-side `default=`/`onupdate=` as text: a literal's repr, a callable's name, SQL."""
    if default is None:
        return None
    if isinstance(default, Sequence):
        return f"sequence {default.name}"
    arg = getattr(default, "arg", default)
    if getattr(default, "is_callable", False):
        return _callable(inspect.unwrap(arg))  # SQLAlchemy wraps a callable that takes no context
    if isinstance(arg, ClauseElement):
        return f"sql {sql(arg)}"
    if isinstance(arg, enum.Enum):
        return f"{type(arg).__qualname__}.{arg.name}"
    return repr(arg)


def _callable(function: Any) -> str:
    """A callable default by import path and the shape of its code (comments and layout aside).

    The name alone would miss a changed body; the source's syntax tree is the same on every
    machine, unlike bytecode.
    """
    name = f"callable {getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return name  # built-in or defined without a file: the name is all there is
    try:
        shape = ast.dump(ast.parse(source))
    except SyntaxError:  # a lambda inside a larger expression: its lines, whitespace-normalised
        shape = " ".join(source.split())
    return f"{name} {hashlib.sha256(shape.encode()).hexdigest()[:12]}"


def _identity(identity: Identity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {
        "always": bool(identity.always),
        **{key: getattr(identity, key) for key in ("start", "increment", "minvalue", "maxvalue", "cache")},
        "cycle": bool(identity.cycle),
    }


def _computed(computed: Computed | None) -> dict[str, Any] | None:
    if computed is None:
        return None
    return {"sqltext": sql(computed.sqltext), "persisted": computed.persisted}


def column_facts(table: Table, column: Column[Any]) -> dict[str, Any]:
    """Everything recorded about one column."""
    server_default = None
    if not isinstance(column.server_default, Identity | Computed | type(None)):
        server_default = _DIALECT.ddl_compiler(_DIALECT, None).get_column_default_string(column)  # type: ignore[arg-type]
    return {
        "type": canonical_type(column),
        "collation": getattr(column.type, "collation", None),
        "enum": _enum(column),
        "nullable": bool(column.nullable),
        "server_default": server_default,
        # A trigger fills it on UPDATE (FetchedValue): the ORM re-reads it after a flush.
        "server_onupdate": column.server_onupdate is not None,
        "python_default": _python_default(column.default),
        "python_onupdate": _python_default(column.onupdate),
        "primary_key": bool(column.primary_key),
        "identity": _identity(column.identity),
        "computed": _computed(column.computed),
        "autoincrement": table.autoincrement_column is column,
        "comment": column.comment,
        "options": options(column),
    }


def _names(columns: Any) -> list[str]:
    return [str(column.name) for column in columns]


def _referenced_by(obj: Any) -> str | None:
    value = obj.info.get(REFERENCED_BY_NAME)
    return None if value is None else str(value)


def _deferral(constraint: Any) -> dict[str, Any]:
    return {
        "deferrable": bool(constraint.deferrable),
        "initially": (constraint.initially or "IMMEDIATE").upper(),
    }


def _action(action: str | None) -> str | None:
    # NO ACTION is what an FK without ON DELETE does; reflection spells it out.
    upper = action.upper() if action else None
    return None if upper in (None, "NO ACTION") else upper


def _foreign_key(constraint: ForeignKeyConstraint) -> dict[str, Any]:
    return {
        "columns": _names(constraint.columns),
        "referred_table": constraint.referred_table.fullname,
        "referred_columns": [str(element.column.name) for element in constraint.elements],
        "ondelete": _action(constraint.ondelete),
        "onupdate": _action(constraint.onupdate),
        "match": constraint.match.upper() if constraint.match else None,
        **_deferral(constraint),
        "options": options(constraint),
        REFERENCED_BY_NAME: _referenced_by(constraint),
    }


def _index(index: Index) -> dict[str, Any]:
    return {
        "columns": [sql(expression) for expression in index.expressions],
        "unique": bool(index.unique),
        "options": options(index),
        "comment": getattr(index, "comment", None),
        REFERENCED_BY_NAME: _referenced_by(index),
    }


def table_facts(table: Table) -> dict[str, Any]:
    """Everything recorded about one table."""
    unique: dict[str, Any] = {}
    foreign_keys: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    excludes: dict[str, Any] = {}
    for constraint in table.constraints:
        name = str(constraint.name)
        if isinstance(constraint, UniqueConstraint):
            unique[name] = {
                "columns": _names(constraint.columns),
                **_deferral(constraint),
                "options": options(constraint),
                REFERENCED_BY_NAME: _referenced_by(constraint),
            }
        elif isinstance(constraint, ForeignKeyConstraint):
            foreign_keys[name] = _foreign_key(constraint)
        elif isinstance(constraint, CheckConstraint):
            checks[name] = {
                "sqltext": sql(constraint.sqltext),
                **_deferral(constraint),
                REFERENCED_BY_NAME: _referenced_by(constraint),
            }
        elif isinstance(constraint, postgresql.ExcludeConstraint):
            excludes[name] = {
                "definition": _exclude_text(constraint),
                **_deferral(constraint),
                REFERENCED_BY_NAME: _referenced_by(constraint),
            }
    primary_key = table.primary_key
    return {
        "columns": {str(column.name): column_facts(table, column) for column in table.columns},
        "primary_key": {
            "name": str(primary_key.name),
            "columns": _names(primary_key.columns),
            **_deferral(primary_key),
        },
        "unique_constraints": unique,
        "exclude_constraints": excludes,
        "indexes": {str(index.name): _index(index) for index in table.indexes},
        "foreign_keys": foreign_keys,
        "check_constraints": checks,
        "comment": table.comment,
        "options": options(table),
        "prefixes": [str(prefix).upper() for prefix in getattr(table, "_prefixes", [])],
    }


def _exclude_text(constraint: Any) -> str:
    elements = ", ".join(
        f"{sql(expression)} WITH {operator}"
        for expression, _name, operator in constraint._render_exprs  # no public view of these
    )
    where = f" WHERE ({sql(constraint.where)})" if constraint.where is not None else ""
    return f"USING {constraint.using} ({elements}){where}"


def sequence_facts(sequence: Sequence) -> dict[str, Any]:
    """Everything recorded about a sequence declared in the models."""
    return {
        "data_type": None if sequence.data_type is None else str(sequence.data_type.compile(_DIALECT)),
        **{key: getattr(sequence, key) for key in ("start", "increment", "minvalue", "maxvalue", "cache")},
        "cycle": bool(sequence.cycle),
    }


def metadata_facts(metadata: MetaData) -> dict[str, Any]:
    """Tables and sequences of a `MetaData`, keyed by name."""
    return {
        "tables": {table.fullname: table_facts(table) for table in metadata.tables.values()},
        "sequences": {
            str(name): sequence_facts(sequence)
            for name, sequence in sorted(metadata._sequences.items())  # no public view of these
        },
    }
