"""Reads of organizations."""

from functools import cache
from typing import Any

from sqlalchemy import Select, String, bindparam, select
from sqlalchemy.orm import Session

from api_service.queries._documents import (
    LIKE_ESCAPE,
    Document,
    as_documents,
    fetch_documents,
    prefix_pattern,
    table_of,
)
from orm_models import Organization

_organization = table_of(Organization)


def _fields() -> Select[Any]:
    """The columns of `schemas.people.Organization`, labelled as its fields."""
    return select(
        _organization.c.id,
        _organization.c.external_id,
        _organization.c.name,
        _organization.c.created_at,
        _organization.c.updated_at,
    )


@cache
def _list_statement(after: bool, name_prefix: bool) -> Select[Any]:
    # Built once per combination of filters, as in `people`.
    fields = _fields()
    if after:
        fields = fields.where(_organization.c.id > bindparam("after_id"))
    if name_prefix:
        pattern = bindparam("name_pattern", type_=String)
        fields = fields.where(_organization.c.name.ilike(pattern, escape=LIKE_ESCAPE))
    return as_documents(fields.order_by(_organization.c.id).limit(bindparam("limit")))


_BY_ID = as_documents(_fields().where(_organization.c.id == bindparam("id")).limit(1))


def list_organizations(
    session: Session, *, limit: int, after_id: int | None = None, name_prefix: str | None = None
) -> list[Document]:
    """Up to `limit` organizations with an id above `after_id`, by id; `name_prefix` ignores case."""
    statement = _list_statement(after_id is not None, name_prefix is not None)
    parameters = {
        "limit": limit,
        "after_id": after_id,
        "name_pattern": None if name_prefix is None else prefix_pattern(name_prefix),
    }
    return fetch_documents(session, statement, parameters)


def get_organization(session: Session, organization_id: int) -> Document | None:
    documents = fetch_documents(session, _BY_ID, {"id": organization_id})
    return documents[0] if documents else None
