"""Bearer tokens: OIDC access tokens as JWTs, checked against the issuer's published keys.

Checked: the signature (RS256 or ES256 only: `none` and the HMAC family are refused before any
key is looked at, so a public key can never be used as an HMAC secret), the issuer, the audience,
the expiry (and not-before), and the required scope (`scope`, space-separated, or `scp`).

Everything in a token is the sender's choice, so every header and claim value is type-checked
before it is used (`jose.py`), and nothing from it reaches `WWW-Authenticate` unless it is short
printable ASCII: a hostile token is a 401 and one access-log line, never a 500 and a traceback.

The issuer's keys live in `jwks.KeySet`: fetched by every worker at start-up, refreshed by one
background download at a time (never on a request's thread), so a slow issuer never holds up a
token whose key is known.

A token once verified is remembered (by its exact text, at most `_VERIFIED_MAX` of them) until it
expires: a browser sends the same token with every call for its whole lifetime, and parsing plus
an RSA check measured ~0.3 ms, a third of a page request. Expiry is still checked on every use,
and a fetch of the keys forgets every remembered token, so a key the issuer withdraws stops its
tokens at the next fetch, as it would without the memory.
"""

import time
from typing import Any

import jwt
from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer

from api_service import jose
from api_service.config import Settings
from api_service.jwks import ALGORITHMS, IssuerUnavailableError, KeySet
from api_service.schemas.common import ErrorMessage

_VERIFIED_MAX = 4096
# The clock remembered tokens expire by (PyJWT's own is datetime.now): a name tests can move.
now = time.time
REALM = "api-service"

__all__ = ["ALGORITHMS", "REALM", "BearerAuth", "IssuerUnavailableError", "KeySet", "TokenVerifier"]


class TokenVerifier:
    """The claims of a valid token, or an HTTPException a client can act on."""

    def __init__(self, settings: Settings) -> None:
        assert settings.auth_issuer is not None
        assert settings.auth_audience is not None
        self.keys = KeySet(settings)
        # Compared exactly as the token states it, so no trailing-slash variant sneaks in.
        self._issuer = settings.auth_issuer
        self._audience = settings.auth_audience
        self._leeway = settings.auth_leeway_seconds
        # token -> (claims, expires at (with the leeway), key generation it was verified under)
        self._verified: dict[str, tuple[dict[str, Any], float, int]] = {}

    async def claims(self, token: str) -> dict[str, Any]:
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, expires_at, generation = remembered
            if now() < expires_at and generation == self.keys.generation:
                return claims
            self._verified.pop(token, None)
        claims = await self._verify(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()  # crude, and rare: the next requests verify again
        # exp was checked to be a finite number of seconds by jose.check_claims.
        self._verified[token] = (claims, float(claims["exp"]) + self._leeway, self.keys.generation)
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jose.header(token)
        except jose.MalformedTokenError as exc:
            raise unauthorized(str(exc)) from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise unauthorized(f"signing algorithm {jose.quoted(algorithm)} not accepted (RS256, ES256)")
        try:
            key = await self.keys.key_for(header.get("kid"))
        except IssuerUnavailableError as exc:
            raise HTTPException(
                503, "token issuer unavailable", headers={"Retry-After": str(exc.retry_after)}
            ) from None
        if key is None:
            raise unauthorized("token signed by a key the issuer does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
            jose.check_claims(claims)
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("token not meant for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("signature does not verify") from None
        except jose.MalformedTokenError as exc:
            raise unauthorized(str(exc)) from None
        except jwt.PyJWTError as exc:
            raise unauthorized(jose.safe_text(str(exc))) from None
        except (TypeError, ValueError, OverflowError):
            # PyJWT's own checks on a claim of a type it did not expect (a list for `iss`, an
            # object for `aud`, ...): still the sender's doing, still a 401.
            raise unauthorized("malformed token claims") from None
        return claims


def scopes_of(claims: dict[str, Any]) -> set[str]:
    """`scope` (RFC 9068: space-separated) or `scp` (a string or a list, as some issuers send)."""
    granted = claims.get("scope", claims.get("scp", ""))
    if isinstance(granted, str):
        return set(granted.split())
    if isinstance(granted, list):
        return {item for item in granted if isinstance(item, str)}
    return set()


def _challenge(**params: str) -> dict[str, str]:
    # RFC 6750 §3: quoted-string values. A header is Latin-1 and one line: whatever a value holds
    # (a description may quote the token), only short printable ASCII without quotes goes out.
    rendered = "".join(f', {name}="{jose.safe_text(value)}"' for name, value in params.items())
    return {"WWW-Authenticate": f'Bearer realm="{REALM}"{rendered}'}


def unauthorized(description: str | None = None) -> HTTPException:
    if description is None:  # no credentials at all: RFC 6750 says no error code
        return HTTPException(401, "bearer token required", headers=_challenge())
    return HTTPException(
        401,
        f"invalid token: {description}",
        headers=_challenge(error="invalid_token", error_description=description),
    )


class BearerAuth(HTTPBearer):
    """The dependency on every data route; also the OpenAPI `bearerAuth` security scheme."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            bearerFormat="JWT",
            scheme_name="bearerAuth",
            description=f"An OIDC access token (JWT, RS256/ES256) from {settings.auth_issuer} "
            f"for audience {settings.auth_audience!r}, with scope {settings.auth_scope!r}.",
            auto_error=False,
        )
        self.verifier = TokenVerifier(settings)
        self.scope = settings.auth_scope

    async def __call__(self, request: Request) -> dict[str, Any]:  # type: ignore[override]
        authorization = request.headers.get("authorization")
        if not authorization:
            raise unauthorized()
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("expected `Authorization: Bearer <token>`")
        claims = await self.verifier.claims(token.strip())
        if self.scope not in scopes_of(claims):
            raise HTTPException(
                403,
                f"token lacks the scope {self.scope}",
                headers=_challenge(error="insufficient_scope", scope=self.scope),
            )
        return claims


_CHALLENGE_HEADER = {
    "WWW-Authenticate": {"description": "RFC 6750 bearer challenge.", "schema": {"type": "string"}}
}
# The 503 (issuer unreachable) is the data routes' own, declared with Retry-After in errors.py.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "Missing or invalid bearer token.",
        "headers": _CHALLENGE_HEADER,
    },
    403: {
        "model": ErrorMessage,
        "description": "The token lacks the required scope.",
        "headers": _CHALLENGE_HEADER,
    },
}
