"""A real stack for the page: embedded PostgreSQL, api-service under uvicorn, the static page on
its own origin, a second origin the API does not allow, and Chromium (Debian's, else Playwright's)
driven by Playwright.

Everything is session-scoped (one database, one API, one browser); each test gets a fresh page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from orm_models import Organization, Person, migrate
from orm_models.testing.postgres import EmbeddedPostgres, embedded_postgres
from tests.browser.servers import api_server
from tools import chromium
from tools.static_site import static_site

ROOT = Path(__file__).resolve().parents[2]
# Git-ignored; the README points here.
SCREENSHOTS = ROOT / ".artifacts" / "browser"
PAGE_SIZE = 10
RETRY_AFTER_SECONDS = 1
ORGANIZATIONS = ("Northwind", "Initech", "Umbrella")
GIVEN_NAMES = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
PEOPLE = 60
# Without these, Chromium's own background connections are refused by the closed network, many
# at a time; the sandbox needs user namespaces that containers (and root) often lack.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    organization_id: int | None
    organization: str | None


@dataclass(frozen=True)
class Seeded:
    people: list[Row]  # in id order, as the API pages them
    organizations: dict[str, int]


def chromium_path() -> str:
    """The nox session passes CHROMIUM; run by hand, pytest finds or installs one the same way."""
    found = chromium.provide()
    if not found:
        pytest.fail(chromium.MISSING, pytrace=False)
    return found


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """Always embedded (never DATABASE_URL): the outage test stops and starts it."""
    server = embedded_postgres(tmp_path_factory.mktemp("browser") / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seeded(postgres: EmbeddedPostgres) -> Seeded:
    migrate(postgres.url)
    engine = create_engine(postgres.url)
    with Session(engine) as session, session.begin():
        organizations = [
            Organization(external_id=f"org-{n}", name=name) for n, name in enumerate(ORGANIZATIONS)
        ]
        session.add_all(organizations)
        session.flush()
        for n in range(PEOPLE):
            organization = None if n % 10 == 9 else organizations[n % len(organizations)]
            session.add(
                Person(
                    external_id=f"p-{n:03d}",
                    given_name=GIVEN_NAMES[n % len(GIVEN_NAMES)],
                    family_name=f"Family{n:02d}",
                    email=f"person{n}@example.org",
                    organization_id=organization.id if organization else None,
                )
            )
    with Session(engine) as session:
        people = session.scalars(select(Person).order_by(Person.id)).all()
        rows = [
            Row(
                person.id,
                f"{person.given_name} {person.family_name}",
                person.organization_id,
                person.organization.name if person.organization else None,
            )
            for person in people
        ]
        by_name = {
            organization.name: organization.id for organization in session.scalars(select(Organization))
        }
    engine.dispose()
    return Seeded(rows, by_name)


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """The page's origin: the one the API allows."""
    with static_site() as base:
        yield base


@pytest.fixture(scope="session")
def foreign_site() -> Iterator[str]:
    """The same page on another port, an origin the API was not told about."""
    with static_site() as base:
        yield base


@pytest.fixture(scope="session")
def api(
    postgres: EmbeddedPostgres, seeded: Seeded, site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api") / "uvicorn.log"
    # Anonymous reads: these tests are about the page, not tokens (test_token_page.py is).
    settings = {"retry_after_seconds": str(RETRY_AFTER_SECONDS), "auth_anonymous": "true"}
    with api_server(postgres.url, [site], log, **settings) as base:
        yield base


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
    try:
        yield browser
    finally:
        browser.close()


def open_page(browser: Browser, site: str, **config: str | int) -> Iterator[Page]:
    """The page at `site` configured by query string; fails the test on any uncaught script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    query = "&".join(f"{key}={value}" for key, value in {"pageSize": PAGE_SIZE, **config}.items())
    page.goto(f"{site}/index.html?{query}")
    page.wait_for_selector("body[data-ready]")
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(browser: Browser, site: str, api: str) -> Iterator[Page]:
    yield from open_page(browser, site, apiBase=api)
