"""Bearer tokens: OIDC access tokens as JWTs, checked against the issuer's published keys.

Checked: the signature (RS256 or ES256 only: `none` and the HMAC family are refused before any
key is looked at, so a public key can never be used as an HMAC secret), the issuer, the audience,
the expiry (and not-before), and the required scope (`scope`, space-separated, or `scp`).

The issuer's keys (JWKS) are fetched once and kept, parsed, for `auth_jwks_cache_seconds`; a
token signed by a key not yet seen (the issuer rotated) fetches them again, at most once per
`auth_jwks_min_refresh_seconds`. Only that fetch does I/O, in a worker thread. When the issuer
cannot be reached the keys already held keep serving; with none held the client gets a 503 to
retry, not a 401.

A token once verified is remembered (by its exact text, at most `_VERIFIED_MAX` of them) until it
expires: a browser sends the same token with every call for its whole lifetime, and parsing plus
an RSA check measured ~0.3 ms, a third of a page request. Expiry is still checked on every use,
and a fetch of the keys forgets every remembered token, so a key the issuer withdraws stops its
tokens at the next fetch, as it would without the memory.
"""

import json
import logging
import threading
import time
import urllib.request
from typing import Any

import jwt
from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from api_service.config import Settings
from api_service.schemas.common import ErrorMessage

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"RS256", "ES256"})
_VERIFIED_MAX = 4096
REALM = "api-service"


class IssuerUnavailableError(Exception):
    """The issuer's keys could not be fetched, and none are held."""


def _fetch_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - configured URL
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.load(response)


class KeySet:
    """The issuer's signing keys by `kid`, parsed once per fetch."""

    def __init__(self, settings: Settings) -> None:
        assert settings.auth_issuer is not None
        self._issuer = settings.auth_issuer.rstrip("/")
        self._jwks_url = settings.auth_jwks_url
        self._timeout = settings.auth_http_timeout_seconds
        self._max_age = settings.auth_jwks_cache_seconds
        self._min_interval = settings.auth_jwks_min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # last successful fetch
        self._tried_at = float("-inf")  # last attempt, successful or not
        self._lock = threading.Lock()
        # Bumped by every successful fetch: tokens verified under older keys are checked again.
        self.generation = 0

    def cached(self, kid: str | None) -> jwt.PyJWK | None:
        """The key, without I/O; None when unknown or when the keys are due for a fetch."""
        if time.monotonic() - self._fetched_at > self._max_age:
            return None
        return self._lookup(kid)

    def fetch(self, kid: str | None) -> jwt.PyJWK | None:
        """Fetch the keys again (unless another thread just did, or did too recently); then look up."""
        with self._lock:
            if self.cached(kid) is not None:
                return self._lookup(kid)
            now = time.monotonic()
            if now - self._tried_at >= self._min_interval:
                self._tried_at = now
                try:
                    self._keys = self._download()
                    self._fetched_at = time.monotonic()
                    self.generation += 1
                except (OSError, ValueError, jwt.PyJWTError) as exc:
                    if not self._keys:
                        log.warning("token issuer's keys unavailable: %s", exc)
                        raise IssuerUnavailableError(str(exc)) from None
                    log.warning(
                        "token issuer's keys not refreshed, keeping the %d held: %s", len(self._keys), exc
                    )
            elif not self._keys:
                raise IssuerUnavailableError("issuer's keys not fetched yet; retrying soon")
            return self._lookup(kid)

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))  # an issuer with one key may omit kid
        return self._keys.get(kid) if kid is not None else None

    def _download(self) -> dict[str, jwt.PyJWK]:
        url = self._jwks_url
        if url is None:
            discovery = _fetch_json(f"{self._issuer}/.well-known/openid-configuration", self._timeout)
            url = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
            if not isinstance(url, str):
                raise ValueError("the issuer's discovery document has no jwks_uri")
            self._jwks_url = url
        document = _fetch_json(url, self._timeout)
        keys = {}
        for key in jwt.PyJWKSet.from_dict(document).keys:
            if key.public_key_use in ("sig", None) and key.algorithm_name in ALGORITHMS:
                keys[key.key_id or ""] = key
        log.info("token issuer's keys fetched: %d signing keys from %s", len(keys), url)
        return keys


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
        self._retry_after = str(settings.retry_after_seconds)
        # token -> (claims, expires at (with the leeway), key generation it was verified under)
        self._verified: dict[str, tuple[dict[str, Any], float, int]] = {}

    async def claims(self, token: str) -> dict[str, Any]:
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, expires_at, generation = remembered
            if time.time() < expires_at and generation == self.keys.generation:
                return claims
            self._verified.pop(token, None)
        claims = await self._verify(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()  # crude, and rare: the next requests verify again
        self._verified[token] = (claims, float(claims["exp"]) + self._leeway, self.keys.generation)
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("malformed token") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise unauthorized(f"signing algorithm {str(algorithm)[:16]!r} not accepted (RS256, ES256)")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise unauthorized("malformed token")
        key = self.keys.cached(kid)
        if key is None:
            try:
                key = await run_in_threadpool(self.keys.fetch, kid)
            except IssuerUnavailableError:
                raise HTTPException(
                    503, "token issuer unavailable", headers={"Retry-After": self._retry_after}
                ) from None
            if key is None:
                raise unauthorized("token signed by a key the issuer does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("token not meant for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise unauthorized(str(exc)) from None
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
    # RFC 6750 §3: quoted-string values; keep them free of quotes and backslashes.
    rendered = "".join(
        f', {name}="{value.replace(chr(34), "").replace(chr(92), "")}"' for name, value in params.items()
    )
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
