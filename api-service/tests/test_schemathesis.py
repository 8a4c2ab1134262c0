"""Property-based: every operation of the app's own OpenAPI schema, against the seeded database.

With a valid bearer token (the data routes require one; `ignored_auth` also checks that each
refuses a request without it or with a bad one). No 5xx, and every response (status code,
content type, headers, body) conforms to the schema the web app's client is generated from.
Driven through schemathesis' Python API rather than its pytest plugin, whose lazy fixture
loader does not work with pytest 9.2 (`Function._nodeid`).
"""

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
# Per operation; there are 7, so the whole test stays within seconds on 2 cores.
EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema(seeded_client: TestClient) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", seeded_client.app)


def _operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation[Any, Any, Any, Any]]:
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation schemathesis cannot read is a broken schema
        operations.append(result.ok())
    return operations


def test_every_operation_is_covered(api_schema: schemathesis.BaseSchema) -> None:
    paths = {operation.path for operation in _operations(api_schema)}

    assert paths == {
        "/healthz",
        "/readyz",
        "/version",
        "/people",
        "/people/{person_id}",
        "/organizations",
        "/organizations/{organization_id}",
    }


def test_api_conforms_to_its_schema(api_schema: schemathesis.BaseSchema, bearer: dict[str, str]) -> None:
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def conforms(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=bearer, checks=CHECKS)

        conforms()


def test_operation_ids_name_what_they_do(api_schema: schemathesis.BaseSchema) -> None:
    """Generated clients name their methods after these."""
    ids = {operation.definition.raw["operationId"] for operation in _operations(api_schema)}

    assert ids == {
        "getHealth",
        "getReadiness",
        "getVersion",
        "listPeople",
        "getPerson",
        "listOrganizations",
        "getOrganization",
    }


def test_data_routes_declare_the_bearer_scheme(seeded_client: TestClient) -> None:
    document = seeded_client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    secured = {
        path
        for path, methods in document["paths"].items()
        if methods["get"].get("security") == [{"bearerAuth": []}]
    }
    assert secured == {"/people", "/people/{person_id}", "/organizations", "/organizations/{organization_id}"}
    for path in secured:
        assert {"401", "403"} <= set(document["paths"][path]["get"]["responses"])
