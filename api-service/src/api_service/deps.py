"""Request-scoped dependencies, as `Annotated` aliases for the routes."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from api_service.config import Settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for one request, closed when the request is done.

    Deliberately `async`: creating a session does no I/O, and neither does closing it on this
    autocommit engine (the connection holds no transaction, so psycopg2's rollback-on-return is
    a no-op). A sync generator would cost two extra threadpool round trips per request.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
    finally:
        session.close()


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
