"""/organizations and /organizations/{id}."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api_service.schemas.people import Organization, OrganizationPage

from .factories import make_organization


def test_organization_by_id(client: TestClient, db_session: Session) -> None:
    organization = make_organization(db_session, name="Bletchley Park")

    response = client.get(f"/organizations/{organization.id}")

    assert response.status_code == 200
    body = Organization.model_validate_json(response.content)
    assert (body.id, body.name, body.external_id) == (
        organization.id,
        "Bletchley Park",
        organization.external_id,
    )


def test_unknown_organization_is_a_json_404(client: TestClient) -> None:
    response = client.get("/organizations/99999")

    assert response.status_code == 404
    assert response.json() == {"detail": "organization not found"}


def test_list_pages_and_filters_by_name_prefix(client: TestClient, db_session: Session) -> None:
    wanted = [make_organization(db_session, name=f"Park {n}").id for n in range(3)]
    make_organization(db_session, name="Other")

    first = client.get("/organizations?name_prefix=park&limit=2")
    page = OrganizationPage.model_validate_json(first.content)
    assert [item.id for item in page.items] == wanted[:2]
    assert page.next is not None
    assert "name_prefix=park" in page.next

    second = OrganizationPage.model_validate_json(client.get(page.next).content)
    assert [item.id for item in second.items] == wanted[2:]
    assert second.next is None
