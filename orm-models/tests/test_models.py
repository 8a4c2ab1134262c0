"""The models against a migrated PostgreSQL: round trips, relations, constraint names."""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orm_models import Base, Organization, Person

pytestmark = pytest.mark.release  # what `nox -s release` re-runs before publishing


def make_organization(session: Session, **overrides: Any) -> Organization:
    key = uuid.uuid4().hex[:8]
    organization = Organization(**{"external_id": f"org-{key}", "name": f"Org {key}", **overrides})
    session.add(organization)
    session.flush()
    return organization


def make_person(session: Session, **overrides: Any) -> Person:
    key = uuid.uuid4().hex[:8]
    values = {"external_id": f"p-{key}", "given_name": "Grace", "family_name": "Hopper", **overrides}
    person = Person(**values)
    session.add(person)
    session.flush()
    return person


def test_person_round_trips_with_its_organization(db_session: Session) -> None:
    organization = make_organization(db_session, name="Analytical Engines")
    person = make_person(db_session, email="ada@example.org", organization=organization)
    person_id = person.id
    db_session.expunge_all()

    loaded = db_session.get(Person, person_id)
    assert loaded is not None
    assert (loaded.given_name, loaded.family_name, loaded.email) == ("Grace", "Hopper", "ada@example.org")
    assert loaded.organization is not None
    assert loaded.organization.name == "Analytical Engines"
    assert [p.id for p in loaded.organization.people] == [person_id]
    # Server defaults fill timestamps, and they are timezone-aware.
    assert loaded.created_at.tzinfo is not None
    assert loaded.updated_at.tzinfo is not None


def test_external_id_is_unique(db_session: Session) -> None:
    make_person(db_session, external_id="same")
    with pytest.raises(IntegrityError, match="uq_person_external_id"):
        make_person(db_session, external_id="same")


def test_deleting_an_organization_keeps_its_people(db_session: Session) -> None:
    person = make_person(db_session, organization=make_organization(db_session))
    db_session.execute(sa.delete(Organization).where(Organization.id == person.organization_id))
    db_session.expire_all()
    assert person.organization_id is None


def test_constraint_names_follow_the_convention(migrated_engine: sa.Engine) -> None:
    """Every key, unique constraint, foreign key and index of every model table carries the name
    `base.NAMING_CONVENTION` gives it from its own columns (a later revision names it to alter or
    drop it). Read from the tree's models: a new table or indexed column is checked too."""
    inspector = sa.inspect(migrated_engine)
    seen: dict[str, set[str]] = {"pk": set(), "uq": set(), "fk": set(), "ix": set()}
    for name in (t.name for t in Base.metadata.sorted_tables):
        seen["pk"].add(str(inspector.get_pk_constraint(name)["name"]))
        seen["uq"] |= {str(uq["name"]) for uq in inspector.get_unique_constraints(name)}
        seen["fk"] |= {str(fk["name"]) for fk in inspector.get_foreign_keys(name)}
        indexes = inspector.get_indexes(name)
        seen["ix"] |= {str(ix["name"]) for ix in indexes if not ix.get("duplicates_constraint")}
    expected: dict[str, set[str]] = {"pk": set(), "uq": set(), "fk": set(), "ix": set()}
    for table in Base.metadata.sorted_tables:
        expected["pk"].add(f"pk_{table.name}")
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                expected["uq"].add(f"uq_{table.name}_{next(iter(constraint.columns)).name}")
            elif isinstance(constraint, sa.ForeignKeyConstraint):
                first, referred = next(iter(constraint.columns)).name, constraint.referred_table.name
                expected["fk"].add(f"fk_{table.name}_{first}_{referred}")
        expected["ix"] |= {f"ix_{table.name}_{next(iter(ix.columns)).name}" for ix in table.indexes}
    assert seen == expected
    assert all(seen.values())  # each kind exists, so each was compared
