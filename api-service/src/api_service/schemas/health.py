"""Bodies of the operational endpoints."""

from typing import Literal

from pydantic import Field

from api_service.schemas.common import Strict


class Health(Strict):
    status: Literal["ok"]


class Readiness(Strict):
    status: Literal["ready", "unavailable"]
    database: Literal["ok", "unreachable"]
    schema_ok: bool
    detail: str


class ClientRegistration(Strict):
    status: Literal["pending", "registered", "failed", "unsupported"]
    detail: str
    instance: str | None = None
    last_seen_at: str | None = Field(default=None, description="Last heartbeat the registry recorded (UTC).")


class Version(Strict):
    service: str
    version: str = Field(description="Version of this service.")
    orm_models_version: str = Field(description="Version of the installed orm-models.")
    schema_revision: str | None = Field(
        description="Alembic revision of the database; null when it cannot be read right now."
    )
    expected_schema_revision: str = Field(description="Migration head shipped in orm-models.")
    registration: ClientRegistration | None = Field(
        default=None, description="This process in orm-models' client registry (null before start-up)."
    )
