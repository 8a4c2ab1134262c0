"""What every `orm-models` command that talks to a database reads from its command line.

Shared by `cli.py` and `cli_registry.py`; `cli.main` turns `UsageError` into exit status 2.
"""

import argparse
import os
from typing import TYPE_CHECKING

# SQLAlchemy is imported by the functions that use it: `orm-models --help` and `--version` import
# this module and answer without it.
if TYPE_CHECKING:
    from sqlalchemy.engine import URL


class UsageError(Exception):
    """The command line or an input it names is wrong: a one-line message, exit status 2."""


def database_url_argument(arguments: argparse.Namespace) -> "URL":
    """The URL of --database-url or $DATABASE_URL, on a driver that is installed."""
    from sqlalchemy.exc import NoSuchModuleError

    from orm_models.urls import database_url

    raw: str | None = arguments.database_url or os.environ.get("DATABASE_URL")
    if not raw:
        raise UsageError("set DATABASE_URL or pass --database-url")
    try:
        url = database_url(raw)
        url.get_dialect().import_dbapi()
    except ValueError as error:
        raise UsageError(f"DATABASE_URL is {error}") from None
    except (NoSuchModuleError, ImportError):
        raise UsageError(
            f"DATABASE_URL names the driver {url.drivername!r}, which is not installed here; "
            "use postgresql://user@host/dbname (psycopg2)"
        ) from None
    return url


def safe_url(url: "URL") -> str:
    """The URL as it may appear in output: never with its password."""
    return url.render_as_string(hide_password=True)
