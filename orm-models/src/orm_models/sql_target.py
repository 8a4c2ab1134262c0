"""One way to turn "a URL, an engine or a connection" into a connection inside a transaction."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine

from orm_models.urls import database_url


@contextmanager
def begin(target: str | Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction that commits on success.

    With a connection the caller owns the transaction: it is used as it is, never committed here.
    """
    if isinstance(target, Connection):
        yield target
        return
    engine = create_engine(database_url(target)) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if isinstance(target, str):
            engine.dispose()
