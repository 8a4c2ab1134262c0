"""Shared by the queries: records rendered as JSON by PostgreSQL, LIKE patterns."""

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, Text, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from orm_models import Base

LIKE_ESCAPE = "\\"

Document = tuple[int, str]
"""A record's id and its JSON text."""


def table_of(model: type[Base]) -> Table:
    """The Core table of a model: selecting its columns skips the ORM's per-row loading."""
    return cast(Table, model.__table__)


def prefix_pattern(prefix: str) -> str:
    """A LIKE pattern matching values that start with `prefix`, taken literally (no wildcards)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def as_documents(fields: Select[Any]) -> Select[Any]:
    """`(id, JSON text)` per row of `fields`, whose labels are the JSON keys, in `fields`' order.

    `fields` must select an `id` and carry its own ORDER BY and LIMIT.
    """
    rows = fields.subquery("doc")
    return select(rows.c.id, sql_cast(func.row_to_json(rows.table_valued()), Text)).order_by(rows.c.id)


def fetch_documents(session: Session, statement: Select[Any], parameters: dict[str, Any]) -> list[Document]:
    try:
        rows: Sequence[Any] = session.execute(statement, parameters).all()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # The pooled connection died under the statement (a database restart since its last
        # use; db.py skips pinging recently used ones). SQLAlchemy has now invalidated the
        # pool, and a read is safe to repeat: once, on a fresh connection. If the database is
        # still down this raises again, and the client gets a 503.
        session.rollback()
        rows = session.execute(statement, parameters).all()
    return [(row[0], row[1]) for row in rows]
