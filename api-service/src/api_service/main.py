"""The application factory: `uvicorn --factory api_service.main:create_app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool

from api_service import errors, guard
from api_service.config import Settings, get_settings
from api_service.db import make_engine, make_sessionmaker
from api_service.routes import health, organizations, people

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; with no argument the settings come from the environment.

    No connection is made here. Start-up checks the schema once; when the database is down at
    boot the app starts anyway, answers 503 (and /readyz 503) until it is up, then recovers by
    itself. Refusing to start would only turn an outage into a crash loop.
    """
    settings = settings or get_settings()
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        try:
            await run_in_threadpool(guard.startup_check, engine)
        except (DBAPIError, PoolTimeoutError) as exc:
            log.warning("database unreachable at start-up, serving 503 until it is up: %s", exc.args[0])
        yield
        engine.dispose()

    app = FastAPI(
        title="api-service",
        summary="People and organizations, for the web app.",
        version=_service_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)

    app.include_router(health.router)
    app.include_router(people.build_router(settings))
    app.include_router(organizations.build_router(settings))
    errors.install_handlers(app, settings.retry_after_seconds)
    if settings.cors_origins:
        # Read-only API for a browser app: GET only, no cookies. A bearer token is a header the
        # preflight must allow; the web app reads Retry-After to count down a 503.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return app


def _service_version() -> str:
    from importlib.metadata import version

    return version("api-service")
