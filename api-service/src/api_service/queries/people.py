"""Reads of people, each with a summary of their organization embedded."""

from functools import cache
from typing import Any

from sqlalchemy import Select, String, bindparam, case, func, null, or_, select
from sqlalchemy.orm import Session

from api_service.queries._documents import (
    LIKE_ESCAPE,
    Document,
    as_documents,
    fetch_documents,
    prefix_pattern,
    table_of,
)
from orm_models import Organization, Person

_person = table_of(Person)
_organization = table_of(Organization)


def _fields() -> Select[Any]:
    """The columns of `schemas.people.Person`, labelled as its fields."""
    summary = case(
        (_organization.c.id.is_(None), null()),
        else_=func.json_build_object("id", _organization.c.id, "name", _organization.c.name),
    )
    return select(
        _person.c.id,
        _person.c.external_id,
        _person.c.given_name,
        _person.c.family_name,
        _person.c.email,
        summary.label("organization"),
        _person.c.created_at,
        _person.c.updated_at,
    ).select_from(_person.outerjoin(_organization, _person.c.organization_id == _organization.c.id))


@cache
def _list_statement(after: bool, organization: bool, email: bool, name_prefix: bool) -> Select[Any]:
    # One statement per combination of filters, built once, values bound at execution: building
    # and cache-keying a Select costs more CPU than executing it.
    fields = _fields()
    if after:
        fields = fields.where(_person.c.id > bindparam("after_id"))
    if organization:
        fields = fields.where(_person.c.organization_id == bindparam("organization_id"))
    if email:
        fields = fields.where(_person.c.email == bindparam("email"))
    if name_prefix:
        pattern = bindparam("name_pattern", type_=String)
        fields = fields.where(
            or_(
                _person.c.given_name.ilike(pattern, escape=LIKE_ESCAPE),
                _person.c.family_name.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    return as_documents(fields.order_by(_person.c.id).limit(bindparam("limit")))


_BY_ID = as_documents(_fields().where(_person.c.id == bindparam("id")).limit(1))


def list_people(
    session: Session,
    *,
    limit: int,
    after_id: int | None = None,
    organization_id: int | None = None,
    email: str | None = None,
    name_prefix: str | None = None,
) -> list[Document]:
    """Up to `limit` people with an id above `after_id`, by id, matching every filter given.

    `name_prefix` matches the start of the given or the family name, ignoring case.
    """
    statement = _list_statement(
        after_id is not None, organization_id is not None, email is not None, name_prefix is not None
    )
    parameters = {
        "limit": limit,
        "after_id": after_id,
        "organization_id": organization_id,
        "email": email,
        "name_pattern": None if name_prefix is None else prefix_pattern(name_prefix),
    }
    return fetch_documents(session, statement, parameters)


def get_person(session: Session, person_id: int) -> Document | None:
    documents = fetch_documents(session, _BY_ID, {"id": person_id})
    return documents[0] if documents else None
