"""/people and /people/{id}: records, the embedded organization, filters, 404."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api_service.schemas.people import Person, PersonPage

from .factories import make_organization, make_person


def test_person_embeds_a_summary_of_its_organization(client: TestClient, db_session: Session) -> None:
    organization = make_organization(db_session, name="Analytical Engines")
    person = make_person(db_session, given_name="Ada", family_name="Lovelace", organization=organization)

    response = client.get(f"/people/{person.id}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = Person.model_validate_json(response.content)
    assert body.given_name == "Ada"
    assert body.family_name == "Lovelace"
    assert body.external_id == person.external_id
    assert body.organization is not None
    assert body.organization.model_dump() == {"id": organization.id, "name": "Analytical Engines"}
    assert body.created_at.utcoffset() is not None


def test_person_without_organization_or_family_name(client: TestClient, db_session: Session) -> None:
    person = make_person(db_session, family_name=None, email=None)

    body = client.get(f"/people/{person.id}").json()

    assert body["organization"] is None
    assert body["family_name"] is None
    assert body["email"] is None


def test_unknown_person_is_a_json_404(client: TestClient) -> None:
    response = client.get("/people/2147483647")

    assert response.status_code == 404
    assert response.json() == {"detail": "person not found"}


def test_list_matches_the_response_model(client: TestClient, db_session: Session) -> None:
    organization = make_organization(db_session)
    make_person(db_session, organization=organization)
    make_person(db_session)

    response = client.get("/people")

    assert response.status_code == 200
    page = PersonPage.model_validate_json(response.content)  # extra keys are refused too
    assert len(page.items) == 2
    assert page.next_cursor is None
    assert page.next is None


def _ids(client: TestClient, query: str) -> list[int]:
    response = client.get(f"/people?{query}")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_filter_by_organization(client: TestClient, db_session: Session) -> None:
    mine, other = make_organization(db_session), make_organization(db_session)
    members = [make_person(db_session, organization=mine).id for _ in range(3)]
    make_person(db_session, organization=other)
    make_person(db_session)

    assert _ids(client, f"organization_id={mine.id}") == members


def test_filter_by_email_is_exact(client: TestClient, db_session: Session) -> None:
    wanted = make_person(db_session, email="grace@example.org")
    make_person(db_session, email="grace@example.org.uk")

    assert _ids(client, "email=grace@example.org") == [wanted.id]
    assert _ids(client, "email=nobody@example.org") == []


def test_filter_by_name_prefix_ignores_case_and_matches_either_name(
    client: TestClient, db_session: Session
) -> None:
    by_given = make_person(db_session, given_name="Grace", family_name="Hopper")
    by_family = make_person(db_session, given_name="Anita", family_name="Graham")
    make_person(db_session, given_name="Alan", family_name="Turing")

    assert _ids(client, "name_prefix=gRa") == [by_given.id, by_family.id]


def test_name_prefix_wildcards_are_literal(client: TestClient, db_session: Session) -> None:
    make_person(db_session, given_name="Abc")
    percent = make_person(db_session, given_name="%bc")

    assert _ids(client, "name_prefix=%25") == [percent.id]
    assert _ids(client, "name_prefix=_bc") == []


def test_filters_combine(client: TestClient, db_session: Session) -> None:
    organization = make_organization(db_session)
    wanted = make_person(db_session, given_name="Grace", organization=organization)
    make_person(db_session, given_name="Alan", organization=organization)
    make_person(db_session, given_name="Grace")

    assert _ids(client, f"organization_id={organization.id}&name_prefix=gr") == [wanted.id]
