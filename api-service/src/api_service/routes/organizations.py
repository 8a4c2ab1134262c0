"""`/organizations`: list (keyset pages, name filter) and one organization.

An organization's people are `/people?organization_id={id}`: paged like any list, rather than
an unbounded array embedded here.
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response

from api_service.config import Settings
from api_service.deps import SessionDep
from api_service.errors import NOT_FOUND, UNAVAILABLE
from api_service.pagination import decode_cursor
from api_service.queries import organizations as queries
from api_service.routes._common import (
    Cursor,
    NamePrefix,
    document_response,
    id_path,
    limit_query,
    page_response,
)
from api_service.schemas.people import Organization, OrganizationPage

RESOURCE = "organization"


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/organizations", tags=["organizations"])

    @router.get(
        "",
        operation_id="listOrganizations",
        response_model=OrganizationPage,
        responses=UNAVAILABLE,
        summary="List organizations, by id",
    )
    def list_organizations(
        request: Request,
        session: SessionDep,
        limit: Annotated[int, limit_query(settings)] = settings.default_page_size,
        cursor: Cursor = None,
        name_prefix: NamePrefix = None,
    ) -> Response:
        records = queries.list_organizations(
            session,
            limit=limit + 1,
            after_id=None if cursor is None else decode_cursor(RESOURCE, cursor),
            name_prefix=name_prefix,
        )
        return page_response(request, RESOURCE, records, limit)

    @router.get(
        "/{organization_id}",
        operation_id="getOrganization",
        response_model=Organization,
        responses={**NOT_FOUND, **UNAVAILABLE},
    )
    def get_organization(
        session: SessionDep, organization_id: Annotated[int, id_path("Organization id.")]
    ) -> Response:
        record = queries.get_organization(session, organization_id)
        if record is None:
            raise HTTPException(status_code=404, detail="organization not found")
        return document_response(record)

    return router
