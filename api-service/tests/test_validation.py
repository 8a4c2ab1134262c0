"""422 with FastAPI's JSON error body for every kind of bad parameter."""

import pytest
from fastapi.testclient import TestClient

from api_service.pagination import encode_cursor

from .conftest import MAX_PAGE


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/people?limit=0", "limit"),
        ("/people?limit=-1", "limit"),
        (f"/people?limit={MAX_PAGE + 1}", "limit"),
        ("/people?limit=1000000000000000000000000", "limit"),
        ("/people?limit=ten", "limit"),
        ("/people?cursor=not-a-cursor", "cursor"),
        ("/people?cursor=%00%01", "cursor"),
        (f"/people?cursor={'A' * 65}", "cursor"),
        (f"/people?cursor={encode_cursor('organization', 1)}", "cursor"),
        (f"/organizations?cursor={encode_cursor('person', 1)}", "cursor"),
        ("/people?organization_id=abc", "organization_id"),
        ("/people?organization_id=0", "organization_id"),
        ("/people?name_prefix=", "name_prefix"),
        ("/people?name_prefix=a%00b", "name_prefix"),
        (f"/people?name_prefix={'a' * 101}", "name_prefix"),
        ("/people?email=", "email"),
        ("/organizations?limit=-5", "limit"),
        ("/people/abc", "person_id"),
        ("/people/0", "person_id"),
        ("/people/-1", "person_id"),
        ("/people/2147483648", "person_id"),
        ("/organizations/1.5", "organization_id"),
    ],
)
def test_bad_parameter_is_a_422(seeded_client: TestClient, path: str, field: str) -> None:
    response = seeded_client.get(path)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"][-1] for error in errors] == [field]


def test_the_largest_limit_is_accepted(seeded_client: TestClient) -> None:
    assert seeded_client.get(f"/people?limit={MAX_PAGE}").status_code == 200


def test_unknown_route_is_a_json_404(seeded_client: TestClient) -> None:
    response = seeded_client.get("/nope")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
