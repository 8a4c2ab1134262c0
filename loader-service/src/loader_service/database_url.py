"""`DATABASE_URL` as operators write it, checked and mapped to the psycopg2 form the loader uses.

Accepted: `postgresql://`, `postgres://` (what hosting providers print) and
`postgresql+psycopg2://`; all become `postgresql+psycopg2://`, so the start-up guard (SQLAlchemy,
which maps a bare `postgresql://` to psycopg 3 in 2.1) and the load (psycopg2) connect the same way.
Everything else is refused with one line that never repeats the URL (it holds a password):
no scheme, another database or driver, a port that is no number, and a user name or password
with an unencoded `@` (SQLAlchemy would split at the first `@` and try to connect to a host named
after the rest of the password, which libpq then prints).
"""

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from loader_service.redaction import remember, remember_url

DRIVER = "postgresql+psycopg2"
_SCHEMES = {"postgres", "postgresql", DRIVER}
EXAMPLE = "postgresql://USER@HOST:5432/DBNAME, a password after USER and a colon, percent-encoded"


def normalise_database_url(text: str) -> str:
    """The URL in `postgresql+psycopg2://` form; `ValueError` with a one-line reason (no secret) otherwise."""
    text = text.strip()
    remember_url(text)  # before anything can fail and quote it
    if "://" not in text:
        raise ValueError(f"not a URL (expected {EXAMPLE})")
    scheme = text.split("://", 1)[0]
    if scheme.lower() not in _SCHEMES:
        shown = scheme if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,30}", scheme) else "that"
        raise ValueError(
            f"the loader connects to PostgreSQL with psycopg2; {shown}:// is not such a URL "
            f"(expected {EXAMPLE}, postgres:// or postgresql+psycopg2://)"
        )
    before_query = re.split(r"[?#]", text.split("://", 1)[1], maxsplit=1)[0]
    if before_query.count("@") > 1:
        raise ValueError("the user name or password holds an unencoded '@': write it as %40")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"not a valid database URL (expected {EXAMPLE})") from None
    if url.host and not re.fullmatch(r"[\w.~%:\[\]-]+", url.host):
        raise ValueError(
            "the host name holds characters no host name has (an unencoded character in the password?)"
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError("the port is not between 1 and 65535")
    remember(url.password if isinstance(url.password, str) else None)
    return url.set(drivername=DRIVER).render_as_string(hide_password=False)
