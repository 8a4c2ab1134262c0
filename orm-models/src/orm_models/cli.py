"""`orm-models` console script: database migrations (and, later, schema tooling)."""

import argparse
import os
import sys
from collections.abc import Sequence

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from orm_models.__about__ import __version__
from orm_models.migrate import current_revision, head_revision, migrate

EXIT_OK = 0
EXIT_USAGE = 2


def _database_url(arguments: argparse.Namespace) -> str:
    url: str | None = arguments.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("orm-models: set DATABASE_URL or pass --database-url")
    try:
        make_url(url)
    except ArgumentError:
        raise SystemExit("orm-models: DATABASE_URL is not a valid database URL") from None
    return url


def _safe(url: str) -> str:
    """The URL as it may appear in output: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def _migrate(arguments: argparse.Namespace) -> int:
    url = _database_url(arguments)
    migrate(url, arguments.revision)
    print(f"migrated {_safe(url)} to {arguments.revision} ({head_revision()} is the newest shipped)")
    return EXIT_OK


def _current(arguments: argparse.Namespace) -> int:
    engine = create_engine(_database_url(arguments))
    try:
        with engine.connect() as connection:
            print(current_revision(connection) or "empty (never migrated)")
    finally:
        engine.dispose()
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orm-models", description=__doc__)
    parser.add_argument("--version", action="version", version=f"orm-models {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate_parser = commands.add_parser("migrate", help="apply pending migrations")
    migrate_parser.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate_parser.set_defaults(handler=_migrate)

    current_parser = commands.add_parser("current", help="print the database's revision")
    current_parser.set_defaults(handler=_current)

    for sub in (migrate_parser, current_parser):
        sub.add_argument("--database-url", help="defaults to $DATABASE_URL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `orm-models` console script."""
    arguments = _parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except OperationalError as error:
        # The driver's message names host and reason but never the password.
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        print(f"orm-models: cannot reach the database: {reason}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
