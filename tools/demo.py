"""The demo: a real PostgreSQL, the packaged migrations, and records read back through the models."""

import argparse
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, selectinload

from orm_models import Organization, Person, __version__, head_revision, migrate
from orm_models.testing.postgres import running_postgres

ORGANIZATIONS = [("acme", "Acme Analytics"), ("globex", "Globex Data")]
PEOPLE = [
    ("p-001", "Ada", "Lovelace", "ada@acme.example", "acme"),
    ("p-002", "Grace", "Hopper", "grace@globex.example", "globex"),
    ("p-003", "Alan", "Turing", "alan@acme.example", "acme"),
]


def _seed(session: Session) -> None:
    """Upsert by natural key, so running the demo twice changes nothing and keeps ids."""
    session.execute(
        insert(Organization)
        .values([{"external_id": key, "name": name} for key, name in ORGANIZATIONS])
        .on_conflict_do_nothing(index_elements=["external_id"])
    )
    org_ids = dict(session.execute(select(Organization.external_id, Organization.id)).all())
    rows = [
        {
            "external_id": key,
            "given_name": given,
            "family_name": family,
            "email": email,
            "organization_id": org_ids[org],
        }
        for key, given, family, email, org in PEOPLE
    ]
    session.execute(insert(Person).values(rows).on_conflict_do_nothing(index_elements=["external_id"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="embedded PostgreSQL data directory")
    arguments = parser.parse_args()

    with running_postgres(data_dir=arguments.data_dir) as url:
        print(f"database: {make_url(url).render_as_string(hide_password=True)}")
        migrate(url)
        print(f"migrated to revision {head_revision()} (orm-models {__version__})")
        engine = create_engine(url)
        with Session(engine) as session, session.begin():
            _seed(session)
        with Session(engine) as session:
            people = session.scalars(
                select(Person).options(selectinload(Person.organization)).order_by(Person.id)
            ).all()
            print(f"\n{'id':>3}  {'external_id':<11} {'name':<16} {'email':<22} organization")
            for person in people:
                name = f"{person.given_name} {person.family_name or ''}".strip()
                organization = person.organization.name if person.organization else "-"
                email = person.email or "-"
                print(f"{person.id:>3}  {person.external_id:<11} {name:<16} {email:<22} {organization}")
        engine.dispose()


if __name__ == "__main__":
    main()
