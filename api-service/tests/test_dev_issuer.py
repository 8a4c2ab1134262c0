"""The local issuer over HTTP: the interface the demo and the web page use."""

import json
import urllib.error
import urllib.request

import jwt
import pytest

from api_service.dev_issuer import DevIssuer


def _call(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_discovery_and_jwks(issuer: DevIssuer) -> None:
    status, headers, body = _call(f"{issuer.url}/.well-known/openid-configuration")
    discovery = json.loads(body)

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert discovery["issuer"] == issuer.url
    assert discovery["token_endpoint"] == f"{issuer.url}/token"
    jwks = json.loads(_call(discovery["jwks_uri"])[2])
    assert [key["kid"] for key in jwks["keys"]] == [key.kid for key in issuer.keys]
    assert all("d" not in key for key in jwks["keys"])  # public halves only


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"scope=people%3Aread+profile&expires_in=120", "application/x-www-form-urlencoded"),
        (json.dumps({"scope": "people:read profile", "expires_in": 120}).encode(), "application/json"),
    ],
)
def test_token_endpoint(issuer: DevIssuer, body: bytes, content_type: str) -> None:
    status, headers, raw = _call(f"{issuer.url}/token", body, {"Content-Type": content_type})
    answer = json.loads(raw)

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 120)
    key = jwt.PyJWKClient(issuer.jwks_url).get_signing_key_from_jwt(answer["access_token"])
    claims = jwt.decode(answer["access_token"], key, algorithms=["RS256"], audience=issuer.audience)
    assert claims["scope"] == "people:read profile"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["iss"] == issuer.url


def test_token_defaults(issuer: DevIssuer) -> None:
    answer = json.loads(_call(f"{issuer.url}/token", b"", method="POST")[2])

    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "people:read"
    assert answer["expires_in"] == 3600


def test_cors_preflight(issuer: DevIssuer) -> None:
    status, headers, _ = _call(
        f"{issuer.url}/token",
        method="OPTIONS",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )

    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    "body", [b"expires_in=soon", b"expires_in=0", b"expires_in=999999", b'{"scope": 5}', b"[1]"]
)
def test_bad_token_request_is_400(issuer: DevIssuer, body: bytes) -> None:
    content_type = "application/json" if body[:1] in (b"{", b"[") else "application/x-www-form-urlencoded"
    status, _, raw = _call(f"{issuer.url}/token", body, {"Content-Type": content_type})

    assert status == 400
    assert json.loads(raw)["error"] == "invalid_request"


def test_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        DevIssuer(host="0.0.0.0")  # noqa: S104 - the point of the test
