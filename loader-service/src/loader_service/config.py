"""Settings from the environment (and `.env`): `DATABASE_URL` plus `LOADER_*` knobs."""

from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from loader_service.database_url import normalise_database_url
from loader_service.errors import SettingsError
from loader_service.limits import DEFAULT_MAX_DELETE, normalise

MaxDelete = Annotated[str, BeforeValidator(normalise)]
"""`20%` or `500`, normalised; `limits.DeleteLimit.parse` reads it."""


class ReportSettings(BaseSettings):
    """What every command needs, database or not: how it reports."""

    model_config = SettingsConfigDict(
        env_prefix="LOADER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    progress_interval: float = Field(default=5.0, gt=0, description="seconds between progress log lines")
    log_format: Literal["logfmt", "json"] = "logfmt"


class Settings(ReportSettings):
    """Everything a run needs besides the per-run options (source, format, mode, ...)."""

    # A secret: SecretStr keeps it out of reprs, logs and tracebacks.
    database_url: SecretStr = Field(validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    # Defaults for runs that get no options (the Lambda handler with an empty event).
    source: str | None = Field(default=None, description="path or URL loaded when a run names none")
    mode: Literal["sync", "append"] = "sync"
    max_errors: int = Field(default=0, ge=0, description="invalid records tolerated before aborting")
    max_delete: MaxDelete = Field(default=DEFAULT_MAX_DELETE, description="most people one sync may delete")
    max_record_bytes: int = Field(
        default=1 << 20, ge=1024, description="longest record (line) accepted; longer ones are rejects"
    )
    lock_timeout: float = Field(
        default=0.0, ge=0, description="seconds to wait for another run to finish (0: exit at once)"
    )
    encoding: str = "utf-8-sig"  # utf-8, tolerating the byte-order mark spreadsheet exports add
    http_timeout: float = Field(default=30.0, gt=0, description="seconds per connect/read on HTTP")
    http_retries: int = Field(default=3, ge=0, description="retries of a failed HTTP request")
    http_allow_unframed: bool = Field(
        default=False,
        description="accept an HTTP body with neither Content-Length nor chunked framing (its end "
        "cannot be told from a connection cut short)",
    )
    max_expansion: int = Field(
        default=100, ge=2, description="most times compressed data may expand (past its first MiB)"
    )
    max_decompressed_bytes: int | None = Field(
        default=None, ge=1, description="most bytes a compressed source may expand to (default: no limit)"
    )
    http_retry_wait: float = Field(default=1.0, ge=0, description="first backoff between retries, seconds")
    batch_size: int = Field(default=2000, ge=1, description="records validated and sent per COPY chunk")
    # Memory the merge's hash joins may use on the server, so 1M-row joins stay off disk.
    work_mem: str = Field(default="64MB", pattern=r"^\d+\s*(kB|MB|GB)$")
    # How long the merge waits for a conflicting lock (a migration, say) before giving up.
    merge_lock_timeout: float = Field(default=30.0, gt=0)
    # The bulk path (build the next table without indexes, swap it in) from this estimated
    # share of rows changed; measured crossover in the README's loader benchmark.
    bulk_share: float = Field(default=0.3, ge=0, le=1)
    # One attempt at the swap's exclusive lock; short, so readers never queue behind it for long.
    swap_lock_timeout: float = Field(default=0.2, gt=0)
    # Names this loader in the client registry (default host:pid); a stable name per deployment
    # keeps one registration per loader instead of one per run.
    instance: str | None = Field(default=None, max_length=200)

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr) -> SecretStr:
        try:
            return SecretStr(normalise_database_url(value.get_secret_value()))
        except ValueError as error:
            raise PydanticCustomError("database_url", str(error)) from None


def get_settings(**overrides: object) -> Settings:
    """The settings of this process; tests pass overrides instead of touching the environment.

    Missing or invalid settings raise `SettingsError` with one line naming each problem.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(settings_problems(error)) from None


def settings_problems(error: ValidationError) -> str:
    """One line for the user: which variable, what is wrong (never the value: it may be a secret)."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in problem["loc"]).upper()
        if name == "DATABASE_URL" and problem["type"] == "missing":
            problems.append("DATABASE_URL is not set (the database's postgresql+psycopg2 URL)")
            continue
        variable = name if name == "DATABASE_URL" else f"LOADER_{name}"
        problems.append(f"{variable}: {problem['msg']}")
    return "bad settings: " + "; ".join(problems)
