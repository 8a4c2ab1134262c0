"""Bearer tokens against the local issuer: who gets in, who gets a 401 or a 403, and why."""

import base64
import datetime
import json
import time
from collections.abc import Iterator

import jwt
import jwt.api_jwt
import pytest
from fastapi.testclient import TestClient

import api_service.auth
from api_service.dev_issuer import DevIssuer, SigningKey
from api_service.main import create_app

from .conftest import auth_settings, make_settings


@pytest.fixture(scope="module")
def app_client(seeded_url: str, issuer: DevIssuer) -> Iterator[TestClient]:
    """No default token: each test says what it sends."""
    with TestClient(create_app(make_settings(seeded_url, **auth_settings(issuer)))) as client:
        yield client


def _get(client: TestClient, token: str | None, path: str = "/people") -> tuple[int, dict[str, str], object]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = client.get(path, headers=headers)
    return response.status_code, dict(response.headers), response.json()


def _challenge(headers: dict[str, str]) -> str:
    return headers["www-authenticate"]


def test_valid_token_reads_every_data_route(app_client: TestClient, issuer: DevIssuer) -> None:
    token = issuer.issue()

    for path in ("/people", "/people/1", "/organizations", "/organizations/1"):
        status, _, _ = _get(app_client, token, path)
        assert status == 200, path


def test_missing_token_is_401_with_a_bare_challenge(app_client: TestClient) -> None:
    status, headers, body = _get(app_client, None)

    assert status == 401
    assert _challenge(headers) == 'Bearer realm="api-service"'
    assert body == {"detail": "bearer token required"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/version", "/metrics", "/openapi.json"])
def test_operational_routes_are_open(app_client: TestClient, path: str) -> None:
    assert app_client.get(path).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer not.a.jwt", "Bearer a.b"],
)
def test_malformed_authorization_is_401(app_client: TestClient, authorization: str) -> None:
    response = app_client.get("/people", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"] or authorization == "Bearer"


def _assert_invalid(client: TestClient, token: str, reason: str) -> None:
    status, headers, body = _get(client, token)
    assert status == 401, body
    assert _challenge(headers).startswith('Bearer realm="api-service", error="invalid_token"')
    assert reason in _challenge(headers)
    assert body == {"detail": f"invalid token: {reason}"}


def test_expired_token(app_client: TestClient, issuer: DevIssuer) -> None:
    # Past the 30 s leeway the settings allow for clock skew.
    _assert_invalid(app_client, issuer.issue(expires_in=-60), "token expired")


def test_token_within_the_leeway_still_passes(app_client: TestClient, issuer: DevIssuer) -> None:
    assert _get(app_client, issuer.issue(expires_in=-5))[0] == 200


def test_wrong_audience(app_client: TestClient, issuer: DevIssuer) -> None:
    _assert_invalid(
        app_client, issuer.issue(audience="another-api"), "token not meant for this API (audience)"
    )


def test_wrong_issuer(app_client: TestClient, issuer: DevIssuer) -> None:
    _assert_invalid(app_client, issuer.issue(iss="https://login.evil.example"), "token from another issuer")


def test_token_signed_by_a_key_the_issuer_does_not_publish(app_client: TestClient, issuer: DevIssuer) -> None:
    stranger = SigningKey.generate("RS256")

    _assert_invalid(
        app_client, issuer.issue(key=stranger), "token signed by a key the issuer does not publish"
    )


def test_wrong_key_under_a_published_kid(app_client: TestClient, issuer: DevIssuer) -> None:
    """A forger who copies the header's kid still cannot sign for it."""
    forged = SigningKey(issuer.keys[0].kid, "RS256", SigningKey.generate("RS256").private)

    _assert_invalid(app_client, issuer.issue(key=forged), "signature does not verify")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(issuer: DevIssuer, header: dict[str, str], signature: bytes = b"") -> str:
    """A token whose claims are all right, with whatever header and signature a forger chooses."""
    claims = jwt.decode(issuer.issue(), options={"verify_signature": False})
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


@pytest.mark.parametrize("algorithm", ["none", "None", "HS256", "HS512", "PS256", "RS512"])
def test_only_rs256_and_es256_are_accepted(app_client: TestClient, issuer: DevIssuer, algorithm: str) -> None:
    token = _unsigned(issuer, {"alg": algorithm, "typ": "JWT", "kid": issuer.keys[0].kid}, b"x")

    _assert_invalid(app_client, token, f"signing algorithm '{algorithm}' not accepted (RS256, ES256)")


def test_hmac_with_the_public_key_as_secret_is_refused(app_client: TestClient, issuer: DevIssuer) -> None:
    """The classic algorithm confusion: HS256 "signed" with the issuer's public key."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    public_pem = (
        issuer.keys[0]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = _unsigned(issuer, {"alg": "HS256", "typ": "JWT", "kid": issuer.keys[0].kid}).rsplit(".", 1)[0]
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()

    _assert_invalid(
        app_client, f"{unsigned}.{_b64(signature)}", "signing algorithm 'HS256' not accepted (RS256, ES256)"
    )


def test_token_without_the_scope_is_403(app_client: TestClient, issuer: DevIssuer) -> None:
    status, headers, body = _get(app_client, issuer.issue(scope="profile organizations:read"))

    assert status == 403
    assert (
        _challenge(headers) == 'Bearer realm="api-service", error="insufficient_scope", scope="people:read"'
    )
    assert body == {"detail": "token lacks the scope people:read"}


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"scp": ["people:read"]}, 200),
        ({"scp": "email people:read"}, 200),
        ({"scp": ["email"]}, 403),
        ({}, 403),
        ({"scope": ["people:read"]}, 200),
        ({"scope": 42}, 403),
    ],
)
def test_scope_or_scp_claim(
    app_client: TestClient, issuer: DevIssuer, claims: dict[str, object], status: int
) -> None:
    token = issuer.issue(**{"scope": None, **claims})  # type: ignore[arg-type]
    assert _get(app_client, token)[0] == status


def test_es256_issuer(seeded_url: str) -> None:
    with DevIssuer(algorithm="ES256") as es_issuer:
        settings = make_settings(seeded_url, **auth_settings(es_issuer))
        with TestClient(create_app(settings)) as client:
            assert _get(client, es_issuer.issue())[0] == 200
            assert es_issuer.keys[0].public_jwk()["kty"] == "EC"


def test_jwks_rotation(seeded_url: str) -> None:
    """The issuer publishes a new key and signs with it: the API fetches the keys again, once."""
    with DevIssuer() as rotating:
        settings = make_settings(seeded_url, **auth_settings(rotating), auth_jwks_min_refresh_seconds=0)
        with TestClient(create_app(settings)) as client:
            old_token = rotating.issue()
            assert _get(client, old_token)[0] == 200

            rotating.rotate(retire_old=True)
            assert _get(client, rotating.issue())[0] == 200  # unknown kid: keys fetched again
            # The old key is no longer published: once the held keys are refreshed it stops working.
            status, _, body = _get(client, old_token)
            assert status == 401, body  # its kid is unknown now, and the refetch confirmed it


def test_unknown_kids_do_not_flood_the_issuer(seeded_url: str) -> None:
    """Within auth_jwks_min_refresh_seconds an unknown kid is refused without a fetch."""
    with DevIssuer() as quiet:
        settings = make_settings(seeded_url, **auth_settings(quiet), auth_jwks_min_refresh_seconds=3600)
        with TestClient(create_app(settings)) as client:
            assert _get(client, quiet.issue())[0] == 200
            quiet.rotate()
            status, _, body = _get(client, quiet.issue())

    assert status == 401
    assert body == {"detail": "invalid token: token signed by a key the issuer does not publish"}


def test_issuer_unreachable_before_any_key_is_503_until_the_stated_retry(seeded_url: str) -> None:
    """Down at start-up: a 503 whose Retry-After is when the API tries the issuer again, and does."""
    with DevIssuer() as gone:
        port = int(gone.url.rsplit(":", 1)[1])
        settings = make_settings(
            seeded_url, **auth_settings(gone), auth_http_timeout_seconds=1, auth_jwks_min_refresh_seconds=4
        )
    # Stopped: its port refuses connections now, also to the start-up fetch.
    with TestClient(create_app(settings)) as client, DevIssuer(port=port) as back:
        token = back.issue()
        back.jwks_gate.clear()  # up again, but not answering yet: only the attempts are counted
        response = client.get("/people", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert response.json() == {"detail": "token issuer unavailable"}
        retry_after = int(response.headers["retry-after"])
        assert 1 <= retry_after <= 4
        assert back.jwks_requests == 0  # the 503 came from what is held, not from a new attempt
        back.jwks_gate.set()

        time.sleep(retry_after)  # as the client is told
        status, _, body = _get(client, token)

    assert status == 200, body
    assert back.jwks_requests == 1


def test_anonymous_only_when_asked_and_said_loudly(
    seeded_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(make_settings(seeded_url))) as client:
        response = client.get("/people")
        document = client.get("/openapi.json").json()
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    assert response.status_code == 200
    assert "securitySchemes" not in document.get("components", {})
    (warning,) = [r for r in records if "AUTHENTICATION DISABLED" in str(r["event"])]
    assert warning["level"] == "warning"


def test_a_remembered_token_still_expires(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified tokens are remembered for speed; their expiry is checked on every use all the same.

    The clocks (the memory's and PyJWT's) are moved past the expiry rather than waited for, so
    the outcome does not depend on how fast the first two requests are served.
    """
    with DevIssuer() as short:
        settings = make_settings(seeded_url, **auth_settings(short), auth_leeway_seconds=0)
        with TestClient(create_app(settings)) as client:
            token = short.issue(expires_in=60)
            assert _get(client, token)[0] == 200
            assert _get(client, token)[0] == 200  # from memory

            class _Later(datetime.datetime):
                @classmethod
                def now(cls, tz: datetime.tzinfo | None = None) -> "_Later":
                    moved = datetime.datetime.now(tz) + datetime.timedelta(seconds=120)
                    return cls.fromtimestamp(moved.timestamp(), tz)

            monkeypatch.setattr(api_service.auth, "now", lambda: time.time() + 120)
            monkeypatch.setattr(jwt.api_jwt, "datetime", _Later)
            status, _, body = _get(client, token)

    assert status == 401
    assert body == {"detail": "invalid token: token expired"}
