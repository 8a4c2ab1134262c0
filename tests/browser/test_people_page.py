"""The page against the real API: paging, filters, the detail view, and a refused origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PAGE_SIZE, SCREENSHOTS, Seeded, open_page
from tests.browser.servers import free_port

PAGES = 5


def shown_ids(page: Page) -> list[int]:
    return [
        int(i) for i in page.locator("#people tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    ]


def expect_ready(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", "ready")


def test_the_first_page_fills_with_the_first_rows(page: Page, seeded: Seeded) -> None:
    expect_ready(page)

    expected = seeded.people[:PAGE_SIZE]
    assert shown_ids(page) == [row.id for row in expected]
    names = page.locator("#people tbody tr td:nth-child(2)").all_inner_texts()
    assert names == [row.name for row in expected]
    organizations = page.locator("#people tbody tr td:nth-child(4)").all_inner_texts()
    assert organizations == [row.organization or "—" for row in expected]
    expect(page.locator("#first")).to_be_disabled()


def test_next_follows_the_cursor_without_repeating_a_row(page: Page, seeded: Seeded) -> None:
    expect_ready(page)
    seen = shown_ids(page)
    for number in range(2, PAGES + 1):
        page.click("#next")
        expect(page.locator("#page-number")).to_have_text(f"page {number}")
        expect_ready(page)
        seen += shown_ids(page)

    assert len(seen) == len(set(seen)) == PAGES * PAGE_SIZE
    assert seen == [row.id for row in seeded.people[: PAGES * PAGE_SIZE]]

    page.click("#first")
    expect(page.locator("#page-number")).to_have_text("page 1")
    assert shown_ids(page) == [row.id for row in seeded.people[:PAGE_SIZE]]


def test_the_name_filter_narrows_the_list(page: Page, seeded: Seeded) -> None:
    expect_ready(page)
    page.fill("#name-prefix", "gra")  # case-insensitive start of the given or family name
    page.press("#name-prefix", "Enter")

    expected = [row.id for row in seeded.people if row.name.lower().startswith("gra")]
    assert 0 < len(expected) < PAGE_SIZE  # the filter really narrows, and all fit on one page
    expect(page.locator("#people tbody tr")).to_have_count(len(expected))
    assert shown_ids(page) == expected
    expect(page.locator("#next")).to_be_disabled()


def test_the_organization_filter_narrows_the_list(page: Page, seeded: Seeded) -> None:
    expect_ready(page)
    initech = seeded.organizations["Initech"]
    # The options come from GET /organizations once the first page has loaded.
    expect(page.locator(f"#organization option[value='{initech}']")).to_have_count(1)
    page.select_option("#organization", str(initech))

    expected = [row.id for row in seeded.people if row.organization_id == initech][:PAGE_SIZE]
    expect(page.locator("#people tbody tr")).to_have_count(len(expected))
    expect_ready(page)
    assert shown_ids(page) == expected
    assert set(page.locator("#people tbody tr td:nth-child(4)").all_inner_texts()) == {"Initech"}


def test_a_filter_that_matches_nobody_says_so(page: Page) -> None:
    expect_ready(page)
    page.fill("#name-prefix", "Zzz")
    page.press("#name-prefix", "Enter")

    expect(page.locator("#status")).to_have_attribute("data-state", "empty")
    expect(page.locator("#status")).to_have_text("No people match.")
    assert shown_ids(page) == []


def test_a_rejected_request_shows_the_api_reason(browser: Browser, site: str, api: str) -> None:
    # A page size over the API's maximum (200): the API answers 422, and the page shows why.
    for page in open_page(browser, site, apiBase=api, pageSize=500):
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "rejected")
        expect(status).to_contain_text("Request rejected (422): limit:")
        assert shown_ids(page) == []


def test_the_detail_view_shows_the_embedded_organization(page: Page, seeded: Seeded) -> None:
    expect_ready(page)
    person = next(row for row in seeded.people if row.organization)
    page.click(f"#people tbody tr[data-id='{person.id}'] button")

    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(page.locator("#detail-name")).to_have_text(person.name)
    expect(page.locator("#detail-organization")).to_have_text(
        f"{person.organization} (id {person.organization_id})"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "people.png", full_page=True)


@pytest.fixture
def foreign_page(browser: Browser, foreign_site: str, api: str) -> Iterator[Page]:
    yield from open_page(browser, foreign_site, apiBase=api)


def test_a_page_from_a_disallowed_origin_gets_no_data_and_says_why(foreign_page: Page) -> None:
    status = foreign_page.locator("#status")
    expect(status).to_have_attribute("data-state", "cors")
    expect(status).to_contain_text("does not allow this page's origin")
    expect(status).to_contain_text("CORS refused")
    assert shown_ids(foreign_page) == []


def test_an_api_that_does_not_answer_is_not_mistaken_for_a_cors_refusal(browser: Browser, site: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for page in open_page(browser, site, apiBase=closed):
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "unreachable")
        expect(status).to_have_text(f"No data: cannot reach the API at {closed}.")
        assert shown_ids(page) == []
