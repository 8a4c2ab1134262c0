"""With the API requiring bearer tokens: the page gets one from the issuer named by its config (as
a web app would), reads with it, and says so when the API rejects it as expired: no empty list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from api_service.dev_issuer import DevIssuer
from orm_models.testing.postgres import EmbeddedPostgres
from tests.browser.conftest import PAGE_SIZE, Seeded, open_page
from tests.browser.servers import api_server

# The token must outlive the page's first read: from the issuer's answer to the API's check is
# one round trip, but `exp` is whole seconds (up to 1 s less than asked) and a loaded 2-core
# machine can stall a round trip for seconds; 3 s failed that way. The wait below starts once
# the page has read, after the token was issued, so it always outlasts `exp`.
TOKEN_SECONDS = 8


@pytest.fixture(scope="module")
def issuer() -> Iterator[DevIssuer]:
    with DevIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def secured_api(
    postgres: EmbeddedPostgres,
    seeded: Seeded,
    site: str,
    issuer: DevIssuer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("secured-api") / "uvicorn.log"
    # No leeway: the token is expired the second its `exp` passes.
    settings = {"auth_issuer": issuer.url, "auth_audience": issuer.audience, "auth_leeway_seconds": "0"}
    with api_server(postgres.url, [site], log, **settings) as base:
        yield base


def test_an_expired_token_is_reported_and_signing_in_again_reads_on(
    browser: Browser, site: str, secured_api: str, issuer: DevIssuer, seeded: Seeded
) -> None:
    config: dict[str, str | int] = {
        "apiBase": secured_api,
        "tokenUrl": f"{issuer.url}/token",
        "tokenExpiresIn": TOKEN_SECONDS,
    }
    for page in open_page(browser, site, **config):
        status = page.locator("#status")
        rows = page.locator("#people tbody tr")
        expect(status).to_have_attribute("data-state", "ready")  # the token was fetched and accepted
        expect(rows).to_have_count(PAGE_SIZE)

        page.wait_for_timeout((TOKEN_SECONDS + 1.5) * 1000)  # the token expires
        page.click("#next")

        expect(status).to_have_attribute("data-state", "auth")
        expect(status).to_contain_text("Session expired or token rejected")
        expect(rows).to_have_count(0)

        page.click("#sign-in-again")
        expect(status).to_have_attribute("data-state", "ready")
        expect(page.locator("#page-number")).to_have_text("page 2")
        ids = rows.evaluate_all("rows => rows.map(r => Number(r.dataset.id))")
        assert ids == [row.id for row in seeded.people[PAGE_SIZE : 2 * PAGE_SIZE]]


def test_without_a_token_url_the_secured_api_is_reported_not_empty(
    browser: Browser, site: str, secured_api: str
) -> None:
    for page in open_page(browser, site, apiBase=secured_api):
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "auth")
        expect(status).to_contain_text("bearer token required")
        expect(page.locator("#people tbody tr")).to_have_count(0)
