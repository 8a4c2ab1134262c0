"""Reads of people, with their organization's summary joined in."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from api_service.queries._filters import LIKE_ESCAPE, prefix_pattern, table_of
from orm_models import Organization, Person

_person = table_of(Person)
_organization = table_of(Organization)


class OrganizationSummaryRecord(TypedDict):
    id: int
    name: str


class PersonRecord(TypedDict):
    id: int
    external_id: str
    given_name: str
    family_name: str | None
    email: str | None
    organization: OrganizationSummaryRecord | None
    created_at: datetime
    updated_at: datetime


def _select() -> Select[Any]:
    return select(
        _person.c.id,
        _person.c.external_id,
        _person.c.given_name,
        _person.c.family_name,
        _person.c.email,
        _organization.c.id,
        _organization.c.name,
        _person.c.created_at,
        _person.c.updated_at,
    ).select_from(_person.outerjoin(_organization, _person.c.organization_id == _organization.c.id))


def _records(rows: Iterable[Sequence[Any]]) -> list[PersonRecord]:
    return [
        {
            "id": row[0],
            "external_id": row[1],
            "given_name": row[2],
            "family_name": row[3],
            "email": row[4],
            "organization": None if row[5] is None else OrganizationSummaryRecord(id=row[5], name=row[6]),
            "created_at": row[7],
            "updated_at": row[8],
        }
        for row in rows
    ]


def list_people(
    session: Session,
    *,
    limit: int,
    after_id: int | None = None,
    organization_id: int | None = None,
    email: str | None = None,
    name_prefix: str | None = None,
) -> list[PersonRecord]:
    """Up to `limit` people with an id above `after_id`, by id, matching every filter given.

    `name_prefix` matches the start of the given or the family name, ignoring case.
    """
    statement = _select().order_by(_person.c.id).limit(limit)
    if after_id is not None:
        statement = statement.where(_person.c.id > after_id)
    if organization_id is not None:
        statement = statement.where(_person.c.organization_id == organization_id)
    if email is not None:
        statement = statement.where(_person.c.email == email)
    if name_prefix is not None:
        pattern = prefix_pattern(name_prefix)
        statement = statement.where(
            or_(
                _person.c.given_name.ilike(pattern, escape=LIKE_ESCAPE),
                _person.c.family_name.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    return _records(session.execute(statement).all())


def get_person(session: Session, person_id: int) -> PersonRecord | None:
    rows = session.execute(_select().where(_person.c.id == person_id)).all()
    return _records(rows)[0] if rows else None
