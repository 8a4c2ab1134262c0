"""Service settings, from the environment (or `.env`) only."""

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api_service.urls import normalize_database_url

# PostgreSQL `integer` columns (every id here): larger values would fail in the database.
MAX_ID = 2**31 - 1


class Settings(BaseSettings):
    """Everything the service can be told; `API_`-prefixed variables, `DATABASE_URL` shared."""

    model_config = SettingsConfigDict(env_prefix="API_", env_file=".env", extra="ignore")

    # The same variable orm-models' CLI and test helpers read, so one export serves all tools.
    database_url: SecretStr = Field(validation_alias=AliasChoices("API_DATABASE_URL", "DATABASE_URL"))

    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=200, ge=1)

    # Comma-separated in the environment: API_CORS_ORIGINS=https://app.example,http://localhost:5173
    cors_origins: Annotated[list[str], NoDecode] = []

    # Sent as Retry-After on 503: about how long a database restart or failover takes.
    retry_after_seconds: int = Field(default=5, ge=1)

    # Threads running the sync routes at once, per process (anyio's default is 40). A few keep
    # the CPU busy against a nearby database; more only contend for the GIL with the event loop,
    # which then answers late. Measured with 2 workers on 2 cores: 4 threads kept p99 under
    # 100 ms, 8 and 40 gave 130-200 ms for no steadier throughput. Raise it for a distant
    # database (each thread then waits longer per query) together with pool_size.
    threadpool_size: int = Field(default=4, ge=1)

    # Pooled connections idle for longer are pinged before use (see db.py for why not all).
    ping_after_idle_seconds: float = Field(default=1.0, ge=0)

    # A request thread waits at most pool_timeout for a connection, then the client gets a 503.
    # One connection per thread, and one spare. No overflow: overflow connections are closed
    # when returned, and opening one forks a PostgreSQL backend.
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=0, ge=0)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    # Bounded so a hung or unreachable database turns into a prompt 503, not a stuck request.
    connect_timeout_seconds: int = Field(default=3, ge=1)
    statement_timeout_ms: int = Field(default=10_000, ge=0)

    # Client registry (orm-models 2.3+): re-registered this often, off the request path, so
    # `orm-models migrate --contract` sees the API as live; `instance` defaults to host:pid.
    registry_heartbeat_seconds: float = Field(default=60.0, gt=0)
    instance: str | None = Field(default=None, max_length=200)

    # Used by the `api-service` console script only; `uvicorn --factory` takes its own flags.
    # The defaults are the README's uvicorn line.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=2, ge=1)

    # Logs: one line per event. `auto` is JSON unless stderr is a terminal (then console).
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    # One line per request (method, path, status, duration, request id), replacing uvicorn's.
    access_log: bool = True

    # Prometheus at /metrics; several workers share counts through PROMETHEUS_MULTIPROC_DIR.
    metrics: bool = True

    # Bearer tokens (OIDC access tokens as JWT). Required unless auth_anonymous is set, which
    # is logged loudly at start-up: the data routes serve names and e-mail addresses.
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # Default: the issuer's discovery document's `jwks_uri`.
    auth_jwks_url: str | None = None
    auth_scope: str = Field(default="people:read", pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")
    auth_anonymous: bool = False
    # The issuer's keys are refreshed in the background after this long; an unknown `kid`
    # fetches them again, at most once per auth_jwks_min_refresh_seconds (junk tokens must not
    # turn into a flood at the issuer); with no key held, that is also the 503's Retry-After.
    auth_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    auth_jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    auth_leeway_seconds: int = Field(default=30, ge=0)
    # Per download of the keys; also the most a request waits for one (the first unknown kid
    # after a rotation, or a worker holding no key). Requests with a known key never wait.
    auth_http_timeout_seconds: float = Field(default=2.0, gt=0)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url", mode="after")
    @classmethod
    def _known_driver(cls, value: SecretStr) -> SecretStr:
        return SecretStr(normalize_database_url(value.get_secret_value()))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _default_within_max(self) -> "Settings":
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size must not exceed max_page_size")
        return self

    @model_validator(mode="after")
    def _auth_configured(self) -> "Settings":
        if not self.auth_anonymous:
            for name in ("auth_issuer", "auth_audience"):
                if not getattr(self, name):
                    raise ValueError(
                        f"API_{name.upper()} is required (or API_AUTH_ANONYMOUS=true to serve without tokens)"
                    )
        return self


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once; tests pass their own `Settings` to `create_app`."""
    return load_settings()


class SettingsError(Exception):
    """Settings the environment cannot satisfy; the message is one line naming the variable."""


def load_settings() -> Settings:
    """`Settings()` from the environment, or a SettingsError naming the first bad variable.

    pydantic's own message spans lines and repeats the input (a database URL holds a password).
    """
    try:
        return Settings()  # type: ignore[call-arg]  # database_url comes from the environment
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    # The location is the field's name, or for DATABASE_URL the alias the value was sought under.
    field = str(error["loc"][0]).lower().removeprefix("api_") if error["loc"] else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if field == "database_url":
        variable = "DATABASE_URL (or API_DATABASE_URL)"
        if error["type"] == "missing":
            return f"{variable} is not set"
    elif field:
        variable = f"API_{field.upper()}"
    else:  # a check across fields names its variables itself
        return message
    return f"{variable}: {message}"
