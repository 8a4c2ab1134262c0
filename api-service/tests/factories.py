"""Plain factory functions: a valid row with random keys; tests override what they assert on."""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from orm_models import Organization, Person


def make_organization(session: Session, **overrides: Any) -> Organization:
    values: dict[str, Any] = {"external_id": f"org-{uuid.uuid4().hex[:12]}", "name": "Acme"}
    organization = Organization(**{**values, **overrides})
    session.add(organization)
    session.flush()
    return organization


def make_person(session: Session, **overrides: Any) -> Person:
    key = uuid.uuid4().hex[:12]
    values: dict[str, Any] = {
        "external_id": f"person-{key}",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": f"{key}@example.org",
    }
    person = Person(**{**values, **overrides})
    session.add(person)
    session.flush()
    return person
