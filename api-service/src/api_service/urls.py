"""The database URL forms hosting providers hand out, mapped to the installed driver (psycopg2).

`postgresql://` means psycopg 3 to SQLAlchemy 2.1 and `postgres://` means nothing to it, yet
both are what a provider's dashboard prints; the service ships psycopg2 only.
"""

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_BACKENDS = frozenset({"postgresql", "postgres"})
_DRIVERS = frozenset({None, "psycopg2"})
DRIVER = "postgresql+psycopg2"


def normalize_database_url(url: str) -> str:
    """`url` with the `postgresql+psycopg2` driver; a ValueError, never echoing the URL, when unusable."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "not a database URL (expected postgresql://USER@HOST:PORT/DBNAME, password included if any)"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _BACKENDS or (driver or None) not in _DRIVERS:
        raise ValueError(
            f"unsupported scheme {parsed.drivername}:// (use postgresql://, postgres:// or postgresql+psycopg2://)"
        )
    return parsed.set(drivername=DRIVER).render_as_string(hide_password=False)
