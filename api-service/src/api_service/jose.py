"""A token's header and claims as the sender wrote them: type-checked before anything uses them.

A JWT's header and payload are JSON the sender chose: `alg` may be a list, `exp` a string or
1e400, `aud` an object. PyJWT checks the signature and the registered claims, but assumes their
types in places (an unhashable `alg`, a non-finite `exp`), so each value is checked here first,
and every failure is a `MalformedTokenError` whose message is safe to send back as is.
"""

import math
import re
from typing import Any

import jwt

# Longer tokens are refused unread. Real access tokens are 1-2 KB; this leaves room for many
# claims, and keeps a 60 KB header from being base64- and JSON-decoded on every request.
MAX_TOKEN_LENGTH = 8192
# What may be echoed into a header (WWW-Authenticate's quoted-string): printable ASCII without
# the quote and the backslash, and not much of it.
_ECHO_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_ECHO_MAX = 120
# NumericDate (RFC 7519 §2): seconds since the epoch; past year 9999 is no date.
_LATEST_DATE = 253_402_300_800


class MalformedTokenError(Exception):
    """The token is not a well-formed JWT of the kind this API accepts; the message says how."""


def safe_text(text: str, limit: int = _ECHO_MAX) -> str:
    """`text` fit for a header's quoted-string: unsafe characters dropped, cut to `limit`."""
    cleaned = _ECHO_UNSAFE.sub("", text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def quoted(value: object) -> str:
    """A sender's value for a message: `'RS512'` when a short safe string, else its JSON type."""
    if isinstance(value, str) and len(value) <= 16 and not _ECHO_UNSAFE.search(value):
        return repr(value)
    return f"({_json_type(value)})"


def header(token: str) -> dict[str, Any]:
    """The JOSE header, with `alg`, `kid`, `typ` and `crit` checked; raises MalformedTokenError."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedTokenError(f"token longer than {MAX_TOKEN_LENGTH} characters")
    if not token.isascii():
        raise MalformedTokenError("malformed token")  # base64url and dots only
    try:
        parsed = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise MalformedTokenError("malformed token") from None
    for name in ("alg", "kid", "typ", "cty"):
        value = parsed.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedTokenError(f"token header {name!r} is a {_json_type(value)}, not a string")
    if "crit" in parsed:
        # RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand; this
        # API understands none.
        raise MalformedTokenError("token header names critical extensions this API does not support")
    return parsed


def check_claims(claims: dict[str, Any]) -> None:
    """The registered claims have the types RFC 7519 gives them; raises MalformedTokenError."""
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_numeric_date(claims[name]):
            raise MalformedTokenError(f"claim {name!r} is not a date (seconds since the epoch)")
    for name in ("iss", "sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise MalformedTokenError(f"claim {name!r} is a {_json_type(claims[name])}, not a string")
    audience = claims.get("aud")
    if "aud" in claims and not (
        isinstance(audience, str)
        or (isinstance(audience, list) and all(isinstance(item, str) for item in audience))
    ):
        raise MalformedTokenError("claim 'aud' is neither a string nor a list of strings")


def _is_numeric_date(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= _LATEST_DATE


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
