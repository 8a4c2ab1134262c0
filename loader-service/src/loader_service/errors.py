"""Failures a run reports to its user: each carries the message to print and the exit status."""

from loader_service.redaction import scrub

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_SCHEMA = 4  # the start-up schema guard refused (orm_models.guard.EXIT_SCHEMA)


def first_line(error: BaseException) -> str:
    """An error's first line, for a log field: PostgreSQL's DETAIL and CONTEXT lines can quote
    the record being copied (a person's name or e-mail), and a log line must not."""
    text = str(getattr(error, "pgerror", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class LoaderError(Exception):
    """A run failed; nothing was written. `str()` is the message for the user.

    The message is one line, scrubbed of secrets (`redaction.scrub`) whoever wrote it (an httpx,
    botocore or libpq error text may quote the URL or the credentials it was given).
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        # One line, whatever the message quotes (a libpq or botocore text may span several).
        super().__init__(scrub(" ".join(message.split("\n")).strip()))


class SourceError(LoaderError):
    """The source cannot be read: missing, unreachable, HTTP error, bad encoding, broken gzip, bad header."""


class RejectBudgetError(LoaderError):
    """More invalid records than `--max-errors` allows."""


class DatabaseError(LoaderError):
    """The database refused or could not be reached."""


class SchemaRefusedError(LoaderError):
    """The database does not serve this loader's models (start-up guard); nothing was touched."""

    exit_code = EXIT_SCHEMA


class LockBusyError(LoaderError):
    """Another run holds the loader's advisory lock."""

    exit_code = EXIT_BUSY


class SourceChangedError(SourceError):
    """The source was rewritten, truncated or replaced while it was read: it is not one whole source."""


class MassDeleteError(LoaderError):
    """A sync would delete more people than `--max-delete` allows."""


class SettingsError(LoaderError):
    """The environment's settings are missing or invalid (DATABASE_URL unset, say)."""

    exit_code = EXIT_USAGE


class EventError(LoaderError):
    """A Lambda event that does not describe a run; the message lists every problem."""

    exit_code = EXIT_USAGE
