"""`/people`: list (keyset pages, filters) and one person."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response

from api_service.config import Settings
from api_service.deps import SessionDep
from api_service.errors import NOT_FOUND, UNAVAILABLE
from api_service.pagination import decode_cursor
from api_service.queries import people as queries
from api_service.routes._common import (
    Cursor,
    Email,
    NamePrefix,
    document_response,
    id_path,
    id_query,
    limit_query,
    page_response,
)
from api_service.schemas.people import Person, PersonPage

RESOURCE = "person"


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/people", tags=["people"])

    # Sync on purpose: psycopg2 blocks, so FastAPI runs these in its threadpool and the event loop
    # keeps serving /healthz and other requests while a query waits.
    @router.get(
        "",
        operation_id="listPeople",
        response_model=PersonPage,
        responses=UNAVAILABLE,
        summary="List people, by id",
    )
    def list_people(
        request: Request,
        session: SessionDep,
        limit: Annotated[int, limit_query(settings)] = settings.default_page_size,
        cursor: Cursor = None,
        organization_id: Annotated[int | None, id_query("Only people of this organization.")] = None,
        email: Email = None,
        name_prefix: NamePrefix = None,
    ) -> Response:
        records = queries.list_people(
            session,
            limit=limit + 1,
            after_id=None if cursor is None else decode_cursor(RESOURCE, cursor),
            organization_id=organization_id,
            email=email,
            name_prefix=name_prefix,
        )
        return page_response(request, RESOURCE, records, limit)

    @router.get(
        "/{person_id}",
        operation_id="getPerson",
        response_model=Person,
        responses={**NOT_FOUND, **UNAVAILABLE},
    )
    def get_person(session: SessionDep, person_id: Annotated[int, id_path("Person id.")]) -> Response:
        record = queries.get_person(session, person_id)
        if record is None:
            raise HTTPException(status_code=404, detail="person not found")
        return document_response(record)

    return router
