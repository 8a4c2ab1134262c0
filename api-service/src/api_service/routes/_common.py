"""Parameter types and the fast JSON response shared by the resource routes."""

from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import Path, Query, Request, Response

from api_service.config import MAX_ID, Settings
from api_service.pagination import CURSOR_MAX_LENGTH, CURSOR_PATTERN, encode_cursor, next_link
from api_service.queries._documents import Document

# PostgreSQL rejects NUL in text; no name or email holds a control character anyway.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=CURSOR_MAX_LENGTH,
        pattern=CURSOR_PATTERN,
        description="Opaque: the `next_cursor` of the previous page. Omit for the first page.",
    ),
]
NamePrefix = Annotated[
    str | None,
    Query(min_length=1, max_length=100, pattern=_PRINTABLE, description="Case-insensitive name prefix."),
]
Email = Annotated[
    str | None, Query(min_length=1, max_length=320, pattern=_PRINTABLE, description="Exact email address.")
]


def id_path(description: str) -> Any:
    return Path(ge=1, le=MAX_ID, description=description)


def id_query(description: str) -> Any:
    return Query(ge=1, le=MAX_ID, description=description)


def limit_query(settings: Settings) -> Any:
    return Query(
        ge=1,
        le=settings.max_page_size,
        description=f"Page size, 1 to {settings.max_page_size}.",
    )


def document_response(document: Document) -> Response:
    """One record's JSON, as PostgreSQL rendered it; the route's `response_model` documents it."""
    return Response(document[1].encode(), media_type="application/json")


def page_response(request: Request, resource: str, documents: Sequence[Document], limit: int) -> Response:
    """A page from `documents` fetched with `limit + 1`: the extra one only says a next page exists."""
    cursor = link = None
    if len(documents) > limit:
        documents = documents[:limit]
        cursor = encode_cursor(resource, documents[-1][0])
        link = next_link(request, cursor)
    items = ",".join([text for _, text in documents]).encode()
    tail = orjson.dumps({"next_cursor": cursor, "next": link})
    # {"items":[...],"next_cursor":...,"next":...}: the records' JSON is spliced in unparsed.
    return Response(b'{"items":[' + items + b"]," + tail[1:], media_type="application/json")
