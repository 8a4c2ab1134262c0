"""Reads of organizations."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api_service.queries._filters import LIKE_ESCAPE, prefix_pattern, table_of
from orm_models import Organization

_organization = table_of(Organization)


class OrganizationRecord(TypedDict):
    id: int
    external_id: str
    name: str
    created_at: datetime
    updated_at: datetime


def _select() -> Select[Any]:
    return select(
        _organization.c.id,
        _organization.c.external_id,
        _organization.c.name,
        _organization.c.created_at,
        _organization.c.updated_at,
    )


def _records(rows: Iterable[Sequence[Any]]) -> list[OrganizationRecord]:
    return [
        {"id": row[0], "external_id": row[1], "name": row[2], "created_at": row[3], "updated_at": row[4]}
        for row in rows
    ]


def list_organizations(
    session: Session, *, limit: int, after_id: int | None = None, name_prefix: str | None = None
) -> list[OrganizationRecord]:
    """Up to `limit` organizations with an id above `after_id`, by id; `name_prefix` ignores case."""
    statement = _select().order_by(_organization.c.id).limit(limit)
    if after_id is not None:
        statement = statement.where(_organization.c.id > after_id)
    if name_prefix is not None:
        statement = statement.where(
            _organization.c.name.ilike(prefix_pattern(name_prefix), escape=LIKE_ESCAPE)
        )
    return _records(session.execute(statement).all())


def get_organization(session: Session, organization_id: int) -> OrganizationRecord | None:
    rows = session.execute(_select().where(_organization.c.id == organization_id)).all()
    return _records(rows)[0] if rows else None
