"""Keyset pages walk a table exactly once, also while rows are being inserted."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api_service.main import create_app
from api_service.pagination import decode_cursor, encode_cursor
from orm_models import Person, migrate

from .conftest import DEFAULT_PAGE, SEEDED_PEOPLE, make_settings
from .factories import make_person


def _walk(
    client: TestClient, first: str, between_pages: Callable[[], None] = lambda: None
) -> tuple[list[int], int]:
    """Every id from `first` on, following `next`; and how many pages it took."""
    seen: list[int] = []
    url: str | None = first
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        assert (body["next"] is None) == (body["next_cursor"] is None)
        url = body["next"]
        pages += 1
        between_pages()
        assert pages < 1000, "pagination does not end"
    return seen, pages


def test_walks_the_whole_table_exactly_once(seeded_client: TestClient, seeded_url: str) -> None:
    seen, pages = _walk(seeded_client, "/people")

    engine = create_engine(seeded_url)
    with Session(engine) as session:
        expected = session.scalars(select(Person.id).order_by(Person.id)).all()
    engine.dispose()
    assert seen == expected
    assert len(seen) == SEEDED_PEOPLE
    # 23 rows at 5 a page: the 5th page holds the last 3 and says there is no next.
    assert pages == -(-SEEDED_PEOPLE // DEFAULT_PAGE)


def test_a_full_last_page_has_no_next(seeded_client: TestClient) -> None:
    body = seeded_client.get(f"/people?limit={SEEDED_PEOPLE}").json()

    assert len(body["items"]) == SEEDED_PEOPLE
    assert body["next"] is None


def test_next_keeps_the_filters_and_limit(seeded_client: TestClient) -> None:
    body = seeded_client.get("/people?limit=2&name_prefix=given").json()

    assert body["next"].startswith("/people?")
    assert "limit=2" in body["next"]
    assert "name_prefix=given" in body["next"]
    assert f"cursor={body['next_cursor']}" in body["next"]


def test_walk_under_concurrent_inserts(create_database: Callable[[], str]) -> None:
    """Rows committed between two page requests, by a bounded writer in step with the reader.

    Every batch lands while the walk is under way (after one page, before the next), whatever the
    relative speed of reader and writer; a free-running writer could outpace the reader forever.
    """
    url = create_database()
    migrate(url)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        before = [make_person(session).id for _ in range(60)]

    inserted: list[int] = []
    batches, per_batch = 20, 2  # 40 rows while 60 are paged 4 at a time: the walk overtakes them

    def insert_a_batch() -> None:
        if len(inserted) < batches * per_batch:
            with Session(engine) as session, session.begin():
                inserted.extend(make_person(session).id for _ in range(per_batch))

    with TestClient(create_app(make_settings(url))) as client:
        seen, _ = _walk(client, "/people?limit=4", between_pages=insert_a_batch)
    engine.dispose()

    assert len(inserted) == batches * per_batch, "the walk ended before the writer did"
    assert len(seen) == len(set(seen)), "a row was returned twice"
    # Every row, old or new, exactly once and in order: new ids come after the cursor.
    assert seen == sorted(before + inserted)


def test_cursor_round_trip_and_opacity() -> None:
    cursor = encode_cursor("person", 12345)

    assert decode_cursor("person", cursor) == 12345
    assert "12345" not in cursor
    assert "=" not in cursor  # unpadded: nothing to escape in a URL


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        encode_cursor("organization", 3),  # another collection's cursor
        encode_cursor("person", 0),
        encode_cursor("person", 2**31),
        "cGVyc29uOi0x",  # person:-1
        "////",
    ],
)
def test_cursor_rejects_what_it_did_not_make(cursor: str) -> None:
    from fastapi.exceptions import RequestValidationError

    with pytest.raises(RequestValidationError):
        decode_cursor("person", cursor)
