"""The witness program: `python witness_program.py [SRC_DIR]` exercises every mapped class, prints JSON.

Run by `witnesses.py` in its own interpreter: in the previous release's virtualenv (old code) or
with a candidate tree first on `sys.path` (new code). It imports nothing of this tooling, only
the `orm_models` it finds and SQLAlchemy, so it runs against any release: it introspects the
mapped classes at run time instead of knowing them.

On the database whose URL is in `ORM_MODELS_WITNESS_URL` (not argv, which `ps` shows), for every
mapped class, parents before children, it records each operation's outcome:

- construct an instance with every column attribute set, insert it (the class's *anchor*), read it back;
- for each column: insert a row that leaves it to its default, read it back, delete it (each such
  row repeats the anchor's values in every column the models do not declare unique, so a new
  uniqueness rule shows up as a failing insert);
- walk each relationship of each anchor; update each column of each anchor and read it back;
- write edge values into each column (`_edge_values`: empty and whitespace-only text, the
  longest VARCHAR(n), zero and negative numbers, far dates): insert a row with it (then delete
  it) and update the anchor to it, so a trigger or CHECK that rejects what old writers may send
  is evidence even though no fact describes what it does;
- delete each anchor (children first) and look that it is gone.

Values are deterministic, so two runs of the same code on two databases can be compared operation
by operation: `witnesses.py` runs it on a control database and on the one under test.
"""

import datetime
import decimal
import enum
import functools
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

URL_VARIABLE = "ORM_MODELS_WITNESS_URL"
_EPOCH = datetime.datetime(2001, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)


class _Values:
    """Deterministic values for columns: the n-th call gives the same value in every run."""

    def __init__(self) -> None:
        self._counter = 0

    def fresh(self, column: Any) -> Any:
        self._counter += 1
        n = self._counter
        column_type = column.type
        enums = getattr(column_type, "enums", None)
        if enums:
            enum_class = getattr(column_type, "enum_class", None)
            return next(iter(enum_class)) if enum_class is not None else enums[0]
        try:
            python_type = column_type.python_type
        except NotImplementedError:
            python_type = str
        return _value_of(python_type, n, column_type)


def _value_of(python_type: type, n: int, column_type: Any) -> Any:
    if issubclass(python_type, bool):
        return n % 2 == 1
    if issubclass(python_type, int):
        return n
    if issubclass(python_type, float):
        return n + 0.5
    if issubclass(python_type, decimal.Decimal):
        return decimal.Decimal(n)
    if issubclass(python_type, datetime.datetime):
        moment = _EPOCH + datetime.timedelta(seconds=n)
        return moment if getattr(column_type, "timezone", False) else moment.replace(tzinfo=None)
    if issubclass(python_type, datetime.date):
        return _EPOCH.date() + datetime.timedelta(days=n)
    if issubclass(python_type, datetime.time):
        return datetime.time(4, 5, n % 60)
    if issubclass(python_type, datetime.timedelta):
        return datetime.timedelta(seconds=n)
    if issubclass(python_type, uuid.UUID):
        return uuid.UUID(int=n)
    if issubclass(python_type, bytes):
        return f"w{n}".encode()
    if issubclass(python_type, dict):
        return {"w": n}
    if issubclass(python_type, list):
        return [n]
    if issubclass(python_type, enum.Enum):
        return next(iter(python_type))
    text = f"w{n}"
    length = getattr(column_type, "length", None)
    return text[-length:] if length else text


def _edge_values(column: Any) -> list[tuple[str, Any]]:
    """(label, value) pairs at the edges of what a column's type accepts, which writers do send."""
    column_type = column.type
    if getattr(column_type, "enums", None):
        return []
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return []
    if issubclass(python_type, str):
        length = getattr(column_type, "length", None)
        edges: list[tuple[str, Any]] = [("an empty string", ""), ("whitespace only", "   ")]
        return edges + ([(f"the longest value ({length} characters)", "x" * length)] if length else [])
    if issubclass(python_type, bool):
        return []
    if issubclass(python_type, int | float | decimal.Decimal):
        return [("zero", python_type(0)), ("a negative number", python_type(-1))]
    if issubclass(python_type, datetime.datetime):
        far = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
        early = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC)
        aware = getattr(column_type, "timezone", False)
        return [
            (f"a far {when}", m if aware else m.replace(tzinfo=None))
            for when, m in (("future", far), ("past", early))
        ]
    if issubclass(python_type, datetime.date):
        return [("a far future", datetime.date(9999, 12, 31)), ("a far past", datetime.date(1, 1, 2))]
    return []


def _normal(value: Any) -> Any:
    """A JSON-able form of a value read back; a server clock's reading is only "now"."""
    if isinstance(value, datetime.datetime):
        reference = datetime.datetime.now(value.tzinfo)
        if abs(reference - value) < datetime.timedelta(days=1):
            return "(now)"
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta | uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _error(exception: BaseException) -> str:
    """The database's own first line when there is one, else the exception's."""
    original = getattr(exception, "orig", None)
    text = str(original if original is not None else exception).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(original or exception).__name__}: {first}"


class _Witness:
    def __init__(self, engine: Any, mappers: list[Any]) -> None:
        from sqlalchemy import inspect

        self._engine = engine
        self._mappers = mappers
        self._inspect = inspect
        self._values = _Values()
        self.records: list[dict[str, Any]] = []
        self.anchors: dict[Any, Any] = {}  # mapper -> primary key identity of its anchor row
        self._anchor_tables: dict[str, Any] = {}  # table key -> mapper
        self._shared: dict[tuple[Any, str], Any] = {}  # the non-unique values every row repeats

    # -- recording ------------------------------------------------------------------------
    def _run(self, mapper: Any, operation: str, column: str | None, action: Callable[[Any], Any]) -> Any:
        from sqlalchemy.orm import Session

        record: dict[str, Any] = {
            "class": mapper.class_.__name__,
            "table": mapper.local_table.key,
            "column": column,
            "operation": operation,
        }
        with Session(self._engine, expire_on_commit=False) as session:
            try:
                result = action(session)
            except Exception as exception:
                session.rollback()
                record.update(ok=False, error=_error(exception), result=None)
                self.records.append(record)
                return None
        record.update(ok=True, error=None, result=result)
        self.records.append(record)
        return result

    # -- values ---------------------------------------------------------------------------
    def _columns(self, mapper: Any) -> list[tuple[str, Any]]:
        """(attribute, column) the class writes: one local column each, not computed, not identity."""
        found = []
        for attribute in mapper.column_attrs:
            if len(attribute.columns) != 1:
                continue
            column = attribute.columns[0]
            if column.table is not mapper.local_table or column.computed is not None:
                continue
            if column.primary_key and (column.identity is not None or column.autoincrement is True):
                continue
            if column.primary_key and column.autoincrement == "auto" and _is_integer(column):
                continue
            found.append((attribute.key, column))
        return found

    def _unique(self, column: Any) -> bool:
        if column.primary_key or column.unique:
            return True
        table = column.table
        constraints = [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
        indexes = [i for i in table.indexes if i.unique]
        return any(column in list(group.columns) for group in [*constraints, *indexes])

    def _parent_value(self, column: Any) -> tuple[bool, Any]:
        """(True, value) for a foreign key to a table whose anchor exists, else (False, None)."""
        for key in column.foreign_keys:
            mapper = self._anchor_tables.get(key.column.table.key)
            if mapper is not None and mapper in self.anchors:
                identity = self.anchors[mapper]
                for pk_column, value in zip(mapper.primary_key, identity, strict=True):
                    if pk_column is key.column:
                        return True, value
        return False, None

    def _row_values(self, mapper: Any, leave_out: str | None = None) -> dict[str, Any]:
        values = {}
        for attribute, column in self._columns(mapper):
            if attribute == leave_out:
                continue
            if column.foreign_keys:
                found, value = self._parent_value(column)
                if found:
                    values[attribute] = value
                elif not column.nullable:
                    values[attribute] = self._values.fresh(column)
                continue
            if self._unique(column):
                values[attribute] = self._values.fresh(column)
            else:
                values[attribute] = self._shared.setdefault((mapper, attribute), self._values.fresh(column))
        return values

    # -- operations -----------------------------------------------------------------------
    def _read(self, session: Any, mapper: Any, identity: Any) -> dict[str, Any] | None:
        instance = session.get(mapper.class_, identity)
        if instance is None:
            return None
        read = {}
        for attribute, column in self._columns(mapper):
            value = getattr(instance, attribute)
            if column.foreign_keys:
                found, parent = self._parent_value(column)
                value = "(the parent's key)" if found and value == parent else value
            read[attribute] = _normal(value)
        return read

    def _insert(self, mapper: Any, values: dict[str, Any], operation: str, column: str | None) -> Any:
        def insert(session: Any) -> Any:
            instance = mapper.class_(**values)
            session.add(instance)
            session.commit()
            return list(self._inspect(instance).identity)

        identity = self._run(mapper, operation, column, insert)
        return tuple(identity) if identity is not None else None

    def create_anchor(self, mapper: Any) -> None:
        self._anchor_tables[mapper.local_table.key] = mapper
        values = self._row_values(mapper)
        self._run(
            mapper, "construct with every column set", None, lambda _s: mapper.class_(**values) and None
        )
        identity = self._insert(mapper, values, "insert with every column set", None)
        if identity is None:
            return
        self.anchors[mapper] = identity
        self._run(mapper, "read back the row", None, lambda s: self._read(s, mapper, identity))

    def defaults(self, mapper: Any) -> None:
        for attribute, _column in self._columns(mapper):
            values = self._row_values(mapper, leave_out=attribute)
            operation = f"insert leaving {attribute} to its default"
            identity = self._insert(mapper, values, operation, attribute)
            if identity is None:
                continue
            read = functools.partial(self._read, mapper=mapper, identity=identity)
            self._run(mapper, f"read back a row that left {attribute} to its default", attribute, read)
            delete = functools.partial(self._delete, mapper=mapper, identity=identity)
            self._run(mapper, "delete a row", attribute, delete)

    def walk(self, mapper: Any) -> None:
        identity = self.anchors.get(mapper)
        if identity is None:
            return
        for relationship in mapper.relationships:
            walk = functools.partial(self._walk, mapper=mapper, identity=identity, relationship=relationship)
            self._run(mapper, f"walk relationship {relationship.key}", relationship.key, walk)

    def _walk(self, session: Any, mapper: Any, identity: Any, relationship: Any) -> Any:
        instance = session.get(mapper.class_, identity)
        target = relationship.mapper
        anchor = self.anchors.get(target)
        found = getattr(instance, relationship.key)
        items = list(found) if relationship.uselist else [found]
        labels = [
            None if item is None else ("anchor" if tuple(self._inspect(item).identity) == anchor else "other")
            for item in items
        ]
        return sorted(labels, key=str)

    def updates(self, mapper: Any) -> None:
        identity = self.anchors.get(mapper)
        if identity is None:
            return
        for attribute, column in self._columns(mapper):
            if column.foreign_keys:
                continue  # the anchor keeps its parent: the other anchors' walks depend on it
            value = self._values.fresh(column)

            def update(session: Any, attribute: str = attribute, value: Any = value) -> Any:
                instance = session.get(mapper.class_, identity)
                setattr(instance, attribute, value)
                session.commit()
                return None

            if self._run(mapper, f"update {attribute}", attribute, update) is None and self.records[-1]["ok"]:
                self._run(mapper, f"read back after updating {attribute}", attribute,
                          lambda s: self._read(s, mapper, identity))  # fmt: skip

    def edges(self, mapper: Any) -> None:
        """Insert (then delete) a row with each edge value, and update the anchor to it."""
        identity = self.anchors.get(mapper)
        for attribute, column in self._columns(mapper):
            if column.foreign_keys:
                continue
            for label, value in _edge_values(column):
                values = {**self._row_values(mapper), attribute: value}
                inserted = self._insert(mapper, values, f"insert {attribute} = {label}", attribute)
                if inserted is not None:
                    delete = functools.partial(self._delete, mapper=mapper, identity=inserted)
                    self._run(mapper, f"delete a row with {attribute} = {label}", attribute, delete)
                if identity is None or column.primary_key:  # the anchor keeps its identity
                    continue

                def update(session: Any, attribute: str = attribute, value: Any = value) -> Any:
                    instance = session.get(mapper.class_, identity)
                    setattr(instance, attribute, value)
                    session.commit()
                    return None

                self._run(mapper, f"update {attribute} to {label}", attribute, update)

    def _delete(self, session: Any, mapper: Any, identity: Any) -> str:
        session.delete(session.get(mapper.class_, identity))
        session.commit()
        session.expunge_all()
        return "gone" if session.get(mapper.class_, identity) is None else "the row is still there"

    def delete_anchor(self, mapper: Any) -> None:
        identity = self.anchors.get(mapper)
        if identity is not None:
            self._run(mapper, "delete the row", None, lambda s: self._delete(s, mapper, identity))


def _is_integer(column: Any) -> bool:
    try:
        return issubclass(column.type.python_type, int)
    except NotImplementedError:
        return False


def witness(url: str) -> list[dict[str, Any]]:
    """Every operation on every mapped class of the importable `orm_models`, with its outcome."""
    from sqlalchemy import create_engine

    import orm_models

    mappers: list[Any] = [m for m in orm_models.Base.registry.mappers if not m.inherits]
    order = {table.key: index for index, table in enumerate(orm_models.Base.metadata.sorted_tables)}
    mappers.sort(key=lambda m: (order.get(m.local_table.key, len(order)), m.class_.__name__))
    engine = create_engine(url)
    try:
        run = _Witness(engine, mappers)
        for mapper in mappers:
            run.create_anchor(mapper)
        for mapper in mappers:
            run.defaults(mapper)
        for mapper in mappers:
            run.walk(mapper)
        for mapper in mappers:
            run.updates(mapper)
        for mapper in mappers:
            run.edges(mapper)
        for mapper in reversed(mappers):
            run.delete_anchor(mapper)
    finally:
        engine.dispose()
    return run.records


def main(argv: list[str]) -> int:
    """Print the records of a witness run; exit 2 on a usage error."""
    url = os.environ.get(URL_VARIABLE)
    if len(argv) > 2 or not url:
        print(f"usage: {URL_VARIABLE}=... python witness_program.py [SRC_DIR]", file=sys.stderr)
        return 2
    if len(argv) == 2:
        sys.path[0] = str(Path(argv[1]).resolve())  # the tree's orm_models must win
    else:
        del sys.path[0]  # this script's directory holds tooling modules, not the code under test
    import orm_models

    sys.stdout.write(json.dumps({"version": orm_models.__version__, "records": witness(url)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
