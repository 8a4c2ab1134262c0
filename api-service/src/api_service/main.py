"""The application factory: `uvicorn --factory api_service.main:create_app`."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool

from api_service import auth, errors, guard, logs, metrics
from api_service.config import Settings, SettingsError, load_settings
from api_service.db import make_engine, make_sessionmaker
from api_service.observe import Observe
from api_service.registration import Heartbeat
from api_service.routes import health, organizations, people

log = logs.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; with no argument the settings come from the environment.

    No connection is made here. Start-up checks the schema once; when the database is down at
    boot the app starts anyway, answers 503 (and /readyz 503) until it is up, then recovers by
    itself. Refusing to start would only turn an outage into a crash loop.
    """
    settings = settings or _settings_or_exit()
    logs.configure(settings)
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        _announce_authentication(settings)
        try:
            status = await run_in_threadpool(guard.startup_check, engine)
            metrics.schema_guard(status.ok)
        except (DBAPIError, PoolTimeoutError) as exc:
            metrics.schema_guard(False)
            log.warning(
                "database unreachable at start-up, serving 503 until it is up",
                **errors.database_error_fields(exc),
            )
        # The client registry (orm-models' contract gate reads it), off the request path.
        heartbeat = app.state.heartbeat = Heartbeat(
            settings.database_url.get_secret_value(), settings.registry_heartbeat_seconds, settings.instance
        )
        heartbeat.start()
        if bearer is not None:
            # Every worker holds the issuer's keys before its first request (bounded wait).
            await bearer.verifier.keys.prefetch()
        yield
        heartbeat.stop()
        engine.dispose()
        metrics.process_exiting()

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
    data_routes: dict[str, Any] = {}
    bearer = None if settings.auth_anonymous else auth.BearerAuth(settings)
    app.state.bearer = bearer
    if bearer is not None:
        data_routes = {"dependencies": [Depends(bearer)], "responses": auth.RESPONSES}
    app.include_router(people.build_router(settings), **data_routes)
    app.include_router(organizations.build_router(settings), **data_routes)
    if settings.metrics:
        # Open, like the health routes: scrapers carry no token. Keep it off the public ingress.
        app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    errors.install_handlers(app, settings.retry_after_seconds)
    if settings.cors_origins:
        # Read-only API for a browser app: GET only, no cookies. A bearer token is a header the
        # preflight must allow; the web app reads Retry-After to count down a 503.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET"],
            allow_headers=["Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID", "WWW-Authenticate", "Retry-After"],
            max_age=600,
        )
    # Outermost of the app's own middleware, so the request id and timing cover CORS too.
    app.add_middleware(Observe, engine=engine, access=settings.access_log, record_metrics=settings.metrics)
    return app


def _settings_or_exit() -> Settings:
    # `uvicorn --factory` without DATABASE_URL: one line and exit 2, not a pydantic traceback.
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"api-service: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _announce_authentication(settings: Settings) -> None:
    if settings.auth_anonymous:
        log.warning(
            "AUTHENTICATION DISABLED (API_AUTH_ANONYMOUS=true): anyone who can reach this API "
            "can read every person's name and e-mail address"
        )
    else:
        log.info(
            "bearer tokens required",
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            scope=settings.auth_scope,
        )


def _service_version() -> str:
    from importlib.metadata import version

    return version("api-service")
