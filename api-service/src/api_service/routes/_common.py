"""Parameter types and the fast JSON response shared by the resource routes."""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import orjson
from fastapi import Path, Query, Request, Response

from api_service.config import MAX_ID, Settings
from api_service.pagination import CURSOR_MAX_LENGTH, CURSOR_PATTERN, encode_cursor, next_link

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


def json_response(body: object) -> Response:
    """Bytes serialized by orjson; the route's `response_model` documents them but is not run."""
    return Response(orjson.dumps(body), media_type="application/json")


def page_response(
    request: Request, resource: str, records: Sequence[Mapping[str, Any]], limit: int
) -> Response:
    """A page from `records` fetched with `limit + 1`: the extra row only says a next page exists."""
    if len(records) <= limit:
        return json_response({"items": records, "next_cursor": None, "next": None})
    items = records[:limit]
    cursor = encode_cursor(resource, items[-1]["id"])
    return json_response({"items": items, "next_cursor": cursor, "next": next_link(request, cursor)})
