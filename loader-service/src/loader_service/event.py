"""The Lambda event, validated: every problem of a bad event is listed at once."""

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationError,
)

from loader_service.errors import EventError
from loader_service.limits import normalise
from loader_service.redaction import redact
from loader_service.sources.formats import Format


class LambdaEvent(BaseModel):
    """`{"source": "s3://bucket/people.csv", "mode": "sync", "max_errors": 10, "max_delete": "20%"}`.

    Strict: `"Sync"` is not a mode and `"ten"` not a number; unknown keys (a typo such as
    `max_error`) are refused rather than ignored. Absent keys fall back to the settings.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    source: str | None = Field(default=None, min_length=1)
    format: Format | None = None
    mode: Literal["sync", "append"] | None = None
    max_errors: NonNegativeInt | None = None
    max_delete: Annotated[str, BeforeValidator(normalise)] | None = None
    lock_timeout: NonNegativeFloat | None = None
    rejects: str | None = Field(default=None, min_length=1)
    """Where rejects go: a path or `s3://bucket/key`; default: next to an S3 source, else the log."""


def parse_event(event: object) -> LambdaEvent:
    """The event as a `LambdaEvent`, or `EventError` naming every problem (never a value: secrets)."""
    try:
        return LambdaEvent.model_validate(event)
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False, include_input=False, include_context=False):
            where = ".".join(str(part) for part in problem["loc"]) or "event"
            problems.append(f"{where}: {redact(problem['msg'])}")
        raise EventError(f"bad event ({len(problems)} problem(s)): " + "; ".join(problems)) from None
