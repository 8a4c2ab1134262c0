"""A value with no space to break at (a long e-mail address) wraps inside the list and the detail panel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

from orm_models import Person
from orm_models.testing.postgres import EmbeddedPostgres
from tests.browser.conftest import SCREENSHOTS, Seeded

# 250 characters, no space, no hyphen: nothing for the browser to break at by itself.
LONG_EMAIL = "zelda." + "x" * 180 + "@" + "very-long-subdomain" * 3 + ".example.org"


@pytest.fixture
def long_email_person(postgres: EmbeddedPostgres, seeded: Seeded) -> Iterator[int]:
    engine = create_engine(postgres.url)
    with Session(engine) as session, session.begin():
        person = Person(external_id="long-email", given_name="Zelda", family_name="Long", email=LONG_EMAIL)
        session.add(person)
        session.flush()
        person_id = person.id
    try:
        yield person_id
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(Person).where(Person.id == person_id))
        engine.dispose()


def _overflow(page: Page, selector: str) -> int:
    """How many pixels `selector`'s content sticks out of its own box (0 when it wraps)."""
    return int(page.locator(selector).evaluate("e => e.scrollWidth - e.clientWidth"))


def test_a_long_email_wraps_in_the_row_and_the_detail_panel(page: Page, long_email_person: int) -> None:
    page.fill("#name-prefix", "Zelda")
    page.click("#apply")
    row = page.locator(f'#people tbody tr[data-id="{long_email_person}"]')
    expect(row).to_have_count(1)
    row.locator("button.link").click()
    expect(page.locator("#detail-email")).to_have_text(LONG_EMAIL)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "long-email.png"), full_page=True)

    viewport = page.viewport_size
    assert viewport is not None
    panel = page.locator("#detail").bounding_box()
    table = page.locator("#people").bounding_box()
    assert panel is not None
    assert table is not None
    assert panel["x"] + panel["width"] <= viewport["width"]  # the panel stays on the page
    assert table["x"] + table["width"] <= panel["x"]  # and beside the list, not over it
    assert _overflow(page, "#detail-email") == 0
    assert _overflow(page, "#detail") == 0
    assert _overflow(page, f'#people tbody tr[data-id="{long_email_person}"] td:nth-child(3)') == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
