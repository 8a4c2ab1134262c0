"""Failures a run reports to its user: each carries the message to print and the exit status."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_SCHEMA = 4  # the start-up schema guard refused (orm_models.guard.EXIT_SCHEMA)


class LoaderError(Exception):
    """A run failed; nothing was written. `str()` is the message for the user."""

    exit_code = EXIT_FAILED


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
