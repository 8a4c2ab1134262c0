"""PostgreSQL stops under the running API: the page shows the 503 state with the countdown from
Retry-After while still showing the rows it had, and refills the list by itself once the database
is back, without a reload."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from orm_models.testing.postgres import EmbeddedPostgres
from tests.browser.conftest import PAGE_SIZE, RETRY_AFTER_SECONDS, Seeded


def test_the_503_state_then_recovery_without_a_reload(
    page: Page, postgres: EmbeddedPostgres, seeded: Seeded
) -> None:
    status = page.locator("#status")
    rows = page.locator("#people tbody tr")
    expect(status).to_have_attribute("data-state", "ready")
    # Survives only if the page is never reloaded.
    page.evaluate("window.__sameDocument = true")

    postgres.stop()
    try:
        page.click("#next")
        expect(status).to_have_attribute("data-state", "unavailable")
        # The wait the API sent in Retry-After (readable cross-origin only when exposed by CORS).
        expect(status).to_have_attribute("data-retry-after", str(RETRY_AFTER_SECONDS))
        expect(status).to_have_text(f"Database unavailable, retrying in {RETRY_AFTER_SECONDS} s")
        # The rows already loaded stay on screen (marked stale) while the page retries.
        expect(page.locator("#people")).to_have_attribute("data-stale", "true")
        assert rows.evaluate_all("rows => rows.map(r => Number(r.dataset.id))") == [
            row.id for row in seeded.people[:PAGE_SIZE]
        ]
        # Still down at the first retry: the page keeps counting down instead of giving up.
        page.wait_for_timeout(RETRY_AFTER_SECONDS * 1000 * 2.5)
        expect(status).to_have_attribute("data-state", "unavailable")
        expect(rows).to_have_count(PAGE_SIZE)
    finally:
        postgres.start()

    expect(status).to_have_attribute("data-state", "ready")
    expect(page.locator("#page-number")).to_have_text("page 2")
    expect(page.locator("#people")).not_to_have_attribute("data-stale", "true")
    assert rows.evaluate_all("rows => rows.map(r => Number(r.dataset.id))") == [
        row.id for row in seeded.people[PAGE_SIZE : 2 * PAGE_SIZE]
    ]
    assert page.evaluate("window.__sameDocument") is True
