"""Settings from the environment (and `.env`): `DATABASE_URL` plus `LOADER_*` knobs."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a run needs besides the per-run options (source, format, mode, ...)."""

    model_config = SettingsConfigDict(
        env_prefix="LOADER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # A secret: SecretStr keeps it out of reprs, logs and tracebacks.
    database_url: SecretStr = Field(validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    # Defaults for runs that get no options (the Lambda handler with an empty event).
    source: str | None = Field(default=None, description="path or URL loaded when a run names none")
    mode: Literal["sync", "append"] = "sync"
    max_errors: int = Field(default=0, ge=0, description="invalid records tolerated before aborting")
    lock_timeout: float = Field(
        default=0.0, ge=0, description="seconds to wait for another run to finish (0: exit at once)"
    )
    encoding: str = "utf-8-sig"  # utf-8, tolerating the byte-order mark spreadsheet exports add
    http_timeout: float = Field(default=30.0, gt=0, description="seconds per connect/read on HTTP")
    http_retries: int = Field(default=3, ge=0, description="retries of a failed HTTP request")
    http_retry_wait: float = Field(default=1.0, ge=0, description="first backoff between retries, seconds")
    batch_size: int = Field(default=2000, ge=1, description="records validated and sent per COPY chunk")
    # Memory the merge's hash joins may use on the server, so 1M-row joins stay off disk.
    work_mem: str = Field(default="64MB", pattern=r"^\d+\s*(kB|MB|GB)$")
    # How long the merge waits for a conflicting lock (a migration, say) before giving up.
    merge_lock_timeout: float = Field(default=30.0, gt=0)
    # Names this loader in the client registry (default host:pid); a stable name per deployment
    # keeps one registration per loader instead of one per run.
    instance: str | None = Field(default=None, max_length=200)
    progress_interval: float = Field(default=5.0, gt=0, description="seconds between progress log lines")


def get_settings(**overrides: object) -> Settings:
    """The settings of this process; tests pass overrides instead of touching the environment."""
    return Settings(**overrides)  # type: ignore[arg-type]
