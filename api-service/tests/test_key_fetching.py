"""The issuer's keys: fetched at start-up, refreshed one download at a time, never in a request's way.

The issuer is stalled with a gate the test holds closed (not with a delay), so "a request did not
wait for the download" is shown by the download still being in flight when the answer came back:
no race between the test and the server's speed.
"""

from fastapi.testclient import TestClient

from api_service.dev_issuer import DevIssuer
from api_service.jwks import KeySet
from api_service.main import create_app

from .conftest import auth_settings, make_settings


def _status(client: TestClient, token: str) -> int:
    return client.get("/people", headers={"Authorization": f"Bearer {token}"}).status_code


def _keys(client: TestClient) -> KeySet:
    keys: KeySet = client.app.state.bearer.verifier.keys  # type: ignore[attr-defined]
    return keys


def test_every_worker_holds_the_keys_before_its_first_request(seeded_url: str) -> None:
    with DevIssuer() as issuer:
        settings = make_settings(seeded_url, **auth_settings(issuer))
        token = issuer.issue()
        client = TestClient(create_app(settings))
        client.__enter__()  # start-up, with the issuer up
        fetched_at_start_up = issuer.jwks_requests
    try:
        # The issuer is gone now; this worker never served a request while it was up.
        status = _status(client, token)
    finally:
        client.__exit__(None, None, None)

    assert fetched_at_start_up == 1
    assert status == 200


def test_valid_tokens_never_wait_for_a_stalled_issuer(seeded_url: str) -> None:
    with DevIssuer() as issuer:
        # Keys always due for a refresh: every request with a known key starts one if none runs.
        settings = make_settings(
            seeded_url,
            **auth_settings(issuer),
            auth_jwks_cache_seconds=0.001,
            auth_jwks_min_refresh_seconds=0,
        )
        valid = issuer.issue()
        with TestClient(create_app(settings)) as client:
            keys = _keys(client)
            issuer.jwks_gate.clear()  # from now on the issuer hangs on every JWKS request
            try:
                assert _status(client, valid) == 200  # known key: answered; a refresh starts behind it
                assert keys.refreshing

                issuer.rotate()  # a kid this API has not seen, while the refresh hangs
                unknown = issuer.issue()
                flood = [_status(client, unknown) for _ in range(20)]
                again = _status(client, valid)

                assert flood == [401] * 20  # answered from the keys held, at once
                assert again == 200
                assert keys.refreshing  # the download was still hanging through all of it
            finally:
                issuer.jwks_gate.set()
            refresh = keys._refresh
            assert refresh is not None
            refresh.result(timeout=30)
            assert issuer.jwks_requests == 2  # start-up's, and the one refresh: the flood added none

            assert _status(client, unknown) == 200  # the refreshed keys include the new one
