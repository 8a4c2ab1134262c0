"""`orm-models` console script: database migrations and the schema version gate.

Commands (the release session calls the last three; their interface is stable)::

    orm-models migrate [--revision REV] [--database-url URL]
    orm-models current [--database-url URL]
    orm-models check [--baseline PATH] [--current PATH] [--version X.Y.Z] [--json] [--no-database]
                     [--database-url URL] [--explain RULE]
    orm-models changelog --baseline PATH --version X.Y.Z [--current PATH] [--date YYYY-MM-DD]
                         [--write CHANGELOG.md]
    orm-models manifest [--from PATH] [--output PATH]

`PATH` is a manifest `.json`, a wheel (its `orm_models/schema_manifest.json`) or a `src`
directory holding `orm_models`; without `--current` the installed `orm_models` is used, and
without `--version` its version. `check` exits 0 when the version carries at least the required
bump and no new revision is unsafe without an accepted reason, 1 when it does not, 2 on a usage
or input error. `changelog` prints (or inserts under `## [Unreleased]`) the Keep a Changelog
section of the diff. `manifest` writes the canonical manifest, e.g. to refresh
`orm-models/schema-baseline.json` from the published wheel after a release. The schema commands
need griffe: `pip install 'orm-models[check]'`.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from orm_models.__about__ import __version__
from orm_models.migrate import current_revision, head_revision, migrate, pending_contract_drops

EXIT_OK = 0
EXIT_FAILED = 1
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
    held = migrate(url, arguments.revision, contract=arguments.contract)
    if held is None:
        print(f"migrated {_safe(url)} to {arguments.revision} ({head_revision()} is the newest shipped)")
        return EXIT_OK
    drops = ", ".join(pending_contract_drops(held)) or "see the revision"
    print(
        f"migrated {_safe(url)} up to the expand revisions; stopped before contract revision {held} "
        f"(removes: {drops}).\nRun `orm-models migrate --contract` once no live client maps that."
    )
    return EXIT_OK


def _current(arguments: argparse.Namespace) -> int:
    engine = create_engine(_database_url(arguments))
    try:
        with engine.connect() as connection:
            print(current_revision(connection) or "empty (never migrated)")
    finally:
        engine.dispose()
    return EXIT_OK


def _check(arguments: argparse.Namespace) -> int:
    from orm_models.schema.check import find_baseline, run_check
    from orm_models.schema.report import to_json, to_table
    from orm_models.schema.rules import explain

    if arguments.explain:
        print(explain(arguments.explain))
        return EXIT_OK
    baseline = arguments.baseline or find_baseline(Path.cwd())
    result = run_check(
        baseline,
        arguments.current,
        arguments.project_version,
        database=not arguments.no_database,
        database_url=arguments.database_url or os.environ.get("DATABASE_URL"),
    )
    print(to_json(result) if arguments.json else to_table(result))
    if result.drift:
        return EXIT_USAGE  # the migrations build another schema than the models describe
    return EXIT_OK if result.ok else EXIT_FAILED


def _changelog(arguments: argparse.Namespace) -> int:
    from orm_models.schema.changelog import insert_section, render_section
    from orm_models.schema.check import load_pair
    from orm_models.schema.diff import diff_manifests
    from orm_models.schema.versioning import parse_version

    parse_version(arguments.project_version)
    baseline, current = load_pair(arguments.baseline, arguments.current)
    section = render_section(arguments.project_version, arguments.date, diff_manifests(baseline, current))
    if arguments.write is None:
        print(section, end="")
    elif insert_section(arguments.write, section):
        print(f"added [{arguments.project_version}] to {arguments.write}")
    else:
        print(f"{arguments.write} already has [{arguments.project_version}]; left unchanged")
    return EXIT_OK


def _manifest(arguments: argparse.Namespace) -> int:
    from orm_models.schema.manifest import dumps
    from orm_models.schema.sources import installed_manifest, read_manifest

    manifest = read_manifest(arguments.source) if arguments.source else installed_manifest()
    if arguments.output is None:
        print(dumps(manifest), end="")
    else:
        arguments.output.write_text(dumps(manifest), encoding="utf-8")
        print(f"wrote the manifest of orm-models {manifest['version']} to {arguments.output}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orm-models", description=__doc__)
    parser.add_argument("--version", action="version", version=f"orm-models {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate_parser = commands.add_parser("migrate", help="apply pending migrations")
    migrate_parser.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate_parser.add_argument(
        "--contract", action="store_true", help="also apply contract revisions (they drop or tighten)"
    )
    migrate_parser.set_defaults(handler=_migrate)

    current_parser = commands.add_parser("current", help="print the database's revision")
    current_parser.set_defaults(handler=_current)

    for sub in (migrate_parser, current_parser):
        sub.add_argument("--database-url", help="defaults to $DATABASE_URL")

    check_parser = commands.add_parser("check", help="diff against the last release; gate the version")
    check_parser.add_argument("--json", action="store_true", help="machine-readable output")
    check_parser.add_argument("--explain", metavar="RULE", help="print a rule: who breaks, why, safe route")
    check_parser.add_argument(
        "--no-database", action="store_true", help="skip migrating scratch databases (models only)"
    )
    check_parser.add_argument(
        "--database-url", help="server for scratch databases (default: $DATABASE_URL, else embedded)"
    )
    check_parser.set_defaults(handler=_check)

    changelog_parser = commands.add_parser("changelog", help="CHANGELOG section generated from the diff")
    changelog_parser.add_argument("--date", default=date.today().isoformat(), help="default: today")
    changelog_parser.add_argument("--write", type=Path, metavar="CHANGELOG", help="insert it into this file")
    changelog_parser.set_defaults(handler=_changelog)

    for sub in (check_parser, changelog_parser):
        # check finds orm-models/schema-baseline.json from the working directory by itself.
        sub.add_argument(
            "--baseline", type=Path, required=sub is changelog_parser, help="manifest of the last release"
        )
        sub.add_argument("--current", type=Path, help="default: the installed orm_models")
    check_parser.add_argument("--version", dest="project_version", help="default: the current version")
    changelog_parser.add_argument("--version", dest="project_version", required=True)

    manifest_parser = commands.add_parser("manifest", help="print or write the schema manifest")
    manifest_parser.add_argument("--from", dest="source", type=Path, help="default: the installed orm_models")
    manifest_parser.add_argument("--output", type=Path, help="default: standard output")
    manifest_parser.set_defaults(handler=_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `orm-models` console script."""
    arguments = _parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except ValueError as error:
        print(f"orm-models: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as error:
        if error.name != "griffe":
            raise
        print("orm-models: the schema commands need griffe: pip install 'orm-models[check]'", file=sys.stderr)
        return EXIT_USAGE
    except OperationalError as error:
        # The driver's message names host and reason but never the password.
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        print(f"orm-models: cannot reach the database: {reason}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
