"""Operational endpoints: liveness, readiness, versions."""

from importlib.metadata import version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

import orm_models
from api_service import metrics
from api_service.deps import SettingsDep
from api_service.errors import RETRY_AFTER_HEADER, database_error_fields
from api_service.guard import expected_revision, schema_check
from api_service.logs import get_logger
from api_service.schemas.health import ClientRegistration, Health, Readiness, Version

router = APIRouter(tags=["operations"])
logger = get_logger(__name__)


@router.get("/healthz", operation_id="getHealth", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    # No database call: a database outage must not get healthy processes restarted.
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadiness",
    response_model=Readiness,
    summary="The database is reachable and its schema is the expected one",
    responses={
        503: {"model": Readiness, "description": "Not ready: see `detail`.", "headers": RETRY_AFTER_HEADER}
    },
)
def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            status = schema_check(connection)
    except (DBAPIError, PoolTimeoutError) as exc:
        # The driver's text names hosts, sockets and users: for the log, not for anonymous clients.
        logger.warning("readiness: database unreachable", **database_error_fields(exc))
        body = Readiness(
            status="unavailable", database="unreachable", schema_ok=False, detail="database unreachable"
        )
    else:
        body = Readiness(
            status="ready" if status.ok else "unavailable",
            database="ok",
            schema_ok=status.ok,
            detail=status.detail,
        )
    metrics.schema_guard(body.schema_ok)
    if body.status == "ready":
        return JSONResponse(body.model_dump())
    return JSONResponse(
        body.model_dump(), status_code=503, headers={"Retry-After": str(settings.retry_after_seconds)}
    )


@router.get(
    "/version",
    operation_id="getVersion",
    response_model=Version,
    summary="Versions of the service, its models and the schema",
)
def version_info(request: Request) -> Version:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            revision = orm_models.current_revision(connection)
    except (DBAPIError, PoolTimeoutError):
        # Versions of the code are still worth reporting while the database is away.
        revision = None
    return Version(
        service="api-service",
        version=version("api-service"),
        orm_models_version=orm_models.__version__,
        schema_revision=revision,
        expected_schema_revision=expected_revision(),
        registration=_registration(request),
    )


def _registration(request: Request) -> ClientRegistration | None:
    heartbeat = getattr(request.app.state, "heartbeat", None)
    return ClientRegistration(**heartbeat.state) if heartbeat is not None else None
