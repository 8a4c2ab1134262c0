"""Keyset pagination: opaque cursors and the `next` link.

A cursor is the urlsafe base64 (unpadded) of `<resource>:<last id>`. Clients must treat it as
opaque; the resource tag makes a cursor from one collection invalid on another instead of
silently meaning something else there. Pages are ordered by id, which is unique and never
reused, so the order is stable and rows inserted while a client pages are seen at most once.
"""

import base64
import binascii
import re
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from api_service.config import MAX_ID

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
CURSOR_MAX_LENGTH = 64
_PAYLOAD = re.compile(r"([a-z]+):([1-9][0-9]{0,9})")


def encode_cursor(resource: str, last_id: int) -> str:
    """The cursor of the page that starts after `last_id`."""
    return base64.urlsafe_b64encode(f"{resource}:{last_id}".encode()).rstrip(b"=").decode()


def decode_cursor(resource: str, cursor: str) -> int:
    """The last id encoded in `cursor`; a 422 (as any bad parameter) when it is not ours."""
    try:
        payload = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        payload = ""
    match = _PAYLOAD.fullmatch(payload)
    if match is None or match[1] != resource or int(match[2]) > MAX_ID:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "cursor"),
                    "msg": f"Value error, not a cursor of this collection ({resource})",
                    "input": cursor,
                }
            ]
        )
    return int(match[2])


def next_link(request: Request, cursor: str) -> str:
    """The request's own path and query (filters, limit) with `cursor` set: a relative URL."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor"]
    params.append(("cursor", cursor))
    return f"{request.url.path}?{urlencode(params)}"
