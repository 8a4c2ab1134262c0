"""Helpers shared by the queries."""

from typing import cast

from sqlalchemy import Table

from orm_models import Base

LIKE_ESCAPE = "\\"


def prefix_pattern(prefix: str) -> str:
    """A LIKE pattern matching values that start with `prefix`, taken literally (no wildcards)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def table_of(model: type[Base]) -> Table:
    """The Core table of a model: selecting its columns skips the ORM's per-row loading."""
    return cast(Table, model.__table__)
