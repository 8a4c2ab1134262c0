"""Database URLs as hosting providers hand them out, mapped to the driver this package installs.

`postgresql://` is what Heroku, Render, RDS, Cloud SQL and `libpq` document; `postgres://` is what
several of them still print. SQLAlchemy 2.1 resolves `postgresql://` to psycopg 3, which this
package does not install, and does not know `postgres://` at all. Both name the same server, so
both are mapped to psycopg2 (`psycopg2-binary`, a dependency of this package). A URL that names
a driver explicitly (`postgresql+psycopg://`, `sqlite://`) is left as written.
"""

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

POSTGRES_DRIVER = "postgresql+psycopg2"
# Scheme -> the drivername that reaches the same server through the installed driver.
_ALIASES = {"postgres": POSTGRES_DRIVER, "postgresql": POSTGRES_DRIVER}


def database_url(url: str | URL) -> URL:
    """The SQLAlchemy URL for `url`, with a bare PostgreSQL scheme mapped to psycopg2.

    `postgresql://`, `postgres://` and `postgresql+psycopg2://` all give a
    `postgresql+psycopg2://` URL; anything else comes back parsed and unchanged.

    Args:
        url: A database URL, e.g. the value of `DATABASE_URL`.

    Raises:
        ValueError: `url` is not a URL. The message never repeats it (it may hold a password).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError("not a valid database URL (expected postgresql://user@host/dbname)") from None
    driver = _ALIASES.get(parsed.drivername)
    return parsed if driver is None else parsed.set(drivername=driver)
