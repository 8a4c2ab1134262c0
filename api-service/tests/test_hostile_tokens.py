"""Tokens whose header or claims hold whatever an attacker likes: a 401 and one log line, never a 500.

Every JOSE header parameter and registered claim is tried with each JSON type (lists, objects,
numbers, booleans, null), with non-finite and huge numbers, huge strings, non-ASCII strings and
strings carrying quotes and CRLF. The claims are signed by the real issuer, so they reach the
claim checks rather than stopping at the signature.
"""

import base64
import json
from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient

from api_service.dev_issuer import DevIssuer
from api_service.main import create_app

from .conftest import auth_settings, make_settings

_HOSTILE_STRINGS: list[object] = [
    "A" * 5000,
    "RS256\u00e9",  # Latin-1, not ASCII
    "\u2603 \U0001f511",  # beyond Latin-1
    "\ud800",  # a lone surrogate, as JSON allows
    'RS256", error="forged',
    "RS256\r\nSet-Cookie: x=1",
    "",
]
_HOSTILE_NON_STRINGS: list[object] = [
    ["RS256"],
    [],
    {"alg": "RS256"},
    {},
    256,
    -1,
    1.5,
    float("inf"),
    float("nan"),
    10**400,
    True,
    None,
    [[[[[[[[[[[["deep"]]]]]]]]]]]],
]
_HOSTILE = _HOSTILE_NON_STRINGS + _HOSTILE_STRINGS

# Claims whose any string is legitimate (a subject may be anything): only the other types are hostile.
_FREE_STRING_CLAIMS = {"sub", "jti"}
# A token that is valid but states its scope in an unusual shape lacks the scope: 403, not 401.
_SCOPE_CLAIMS = {"scope", "scp"}


@pytest.fixture(scope="module")
def strict_client(seeded_url: str, issuer: DevIssuer) -> Iterator[TestClient]:
    """Keys fetched at start-up and never again within the module: one log line per request."""
    settings = make_settings(seeded_url, **auth_settings(issuer), auth_jwks_min_refresh_seconds=3600)
    with TestClient(create_app(settings)) as client:
        yield client


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _with_header(issuer: DevIssuer, **header: object) -> str:
    """Valid claims under a header of the test's choosing; the signature is junk."""
    claims = jwt.decode(issuer.issue(), options={"verify_signature": False})
    base = {"alg": "RS256", "typ": "JWT", "kid": issuer.keys[0].kid}
    return f"{_b64(_json({**base, **header}))}.{_b64(_json(claims))}.{_b64(b'signature')}"


def _signed(issuer: DevIssuer, claims: dict[str, object]) -> str:
    """Claims signed by the issuer's key, as JSON with no type checks (PyJWT's encode has some)."""
    key = issuer.keys[-1]
    return jwt.PyJWS().encode(_json(claims), key.private, algorithm=key.algorithm, headers={"kid": key.kid})


def _answer(
    client: TestClient, capsys: pytest.CaptureFixture[str], authorization: str | bytes
) -> tuple[int, dict[str, str], list[dict[str, object]]]:
    capsys.readouterr()
    raw = authorization if isinstance(authorization, bytes) else authorization.encode("latin-1")
    response = client.get("/people", headers={b"Authorization": raw})
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # a traceback would not parse as JSON
    # The test's own HTTP client logs its request through the same root handler: not the API's.
    records = [r for r in records if not str(r.get("logger", "")).startswith("httpx")]
    assert response.status_code != 500
    # The response went through the protocol layer: the header is Latin-1, one line, no quotes.
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.isascii()
    assert "\r" not in challenge
    assert "\n" not in challenge
    assert len(challenge) < 300
    return response.status_code, dict(response.headers), records


def _assert_one_access_line(records: list[dict[str, object]], status: int) -> None:
    assert [(r["logger"], r.get("status"), r["level"]) for r in records] == [
        ("api_service.access", status, "info")
    ], records
    assert "exception" not in records[0]


@pytest.mark.parametrize("value", _HOSTILE, ids=lambda value: f"{value!r:.40}")
@pytest.mark.parametrize("name", ["alg", "kid", "typ", "cty", "crit", "jku", "x5u", "b64", "zip"])
def test_hostile_header_parameter_is_401(
    strict_client: TestClient, issuer: DevIssuer, capsys: pytest.CaptureFixture[str], name: str, value: object
) -> None:
    status, headers, records = _answer(
        strict_client, capsys, f"Bearer {_with_header(issuer, **{name: value})}"
    )

    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer realm="api-service", error="invalid_token"')
    _assert_one_access_line(records, 401)


def _legitimate(name: str, value: object) -> bool:
    if name in _FREE_STRING_CLAIMS:
        return isinstance(value, str)
    if name in ("nbf", "iat"):  # any moment in the past will do
        return type(value) in (int, float) and 0 <= value <= 10**9  # type: ignore[operator]
    return False


_CLAIM_CASES = [
    pytest.param(name, value, id=f"{name}={value!r:.40}")
    for name in ("iss", "aud", "exp", "nbf", "iat", "sub", "jti", "scope", "scp")
    for value in _HOSTILE
    if not _legitimate(name, value)
]


@pytest.mark.parametrize(("name", "value"), _CLAIM_CASES)
def test_hostile_claim_is_401(
    strict_client: TestClient, issuer: DevIssuer, capsys: pytest.CaptureFixture[str], name: str, value: object
) -> None:
    claims = jwt.decode(issuer.issue(scope=None), options={"verify_signature": False})
    token = _signed(issuer, {**claims, name: value})

    status, _, records = _answer(strict_client, capsys, f"Bearer {token}")

    expected = {401, 403} if name in _SCOPE_CLAIMS else {401}
    assert status in expected
    _assert_one_access_line(records, status)


def test_a_header_that_is_not_an_object_is_401(
    strict_client: TestClient, issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = jwt.decode(issuer.issue(), options={"verify_signature": False})
    for header in (["RS256"], "RS256", 256, None, "{"):
        token = f"{_b64(_json(header))}.{_b64(_json(claims))}.{_b64(b'x')}"
        status, _, records = _answer(strict_client, capsys, f"Bearer {token}")
        assert status == 401, header
        _assert_one_access_line(records, 401)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer " + "a" * 20_000,
        "Bearer " + "a." * 3000,
        b"Bearer \xe9\xe9.\xe9\xe9.\xe9\xe9",  # Latin-1 bytes in the header itself
        "Bearer ...",
        "Bearer .e30.",
        "Bearer e30.e30.e30.e30",
    ],
    ids=["huge", "many-dots", "latin-1", "dots", "empty-header", "four-parts"],
)
def test_malformed_token_text_is_401(
    strict_client: TestClient, capsys: pytest.CaptureFixture[str], authorization: str | bytes
) -> None:
    status, _, records = _answer(strict_client, capsys, authorization)

    assert status == 401
    _assert_one_access_line(records, 401)


def test_a_refused_algorithm_is_named_only_when_safe_to_echo(
    strict_client: TestClient, issuer: DevIssuer
) -> None:
    named = strict_client.get(
        "/people", headers={"Authorization": f"Bearer {_with_header(issuer, alg='HS256')}"}
    )
    hostile = strict_client.get(
        "/people", headers={"Authorization": f"Bearer {_with_header(issuer, alg='RS256' + chr(0x2603))}"}
    )

    assert "signing algorithm 'HS256' not accepted" in named.headers["www-authenticate"]
    assert hostile.json() == {
        "detail": "invalid token: signing algorithm (string) not accepted (RS256, ES256)"
    }
