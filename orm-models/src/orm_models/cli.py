"""Database migrations, migration authoring and the schema version gate of orm-models.

Run `orm-models COMMAND --help` for the options of each command. More: orm-models/README.md
in the repository (the package's description on the index), and the repository README.

Databases: --database-url, else $DATABASE_URL. postgresql://, postgres:// and
postgresql+psycopg2:// all connect through psycopg2.

Exit status:
  0  done (for `check`: the version carries the required bump, or is not bumped yet: "pending")
  1  the command ran and failed: `check` found the version too small or a revision
     unsafe, `revision` wrote a revision the migration lint flags, the database
     cannot be reached or refused a statement
     (`migrate --contract`: live clients still map what the contract removes)
  2  usage or input error: a bad option, revision, URL or file; nothing was changed
"""

import argparse
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from orm_models.__about__ import __version__
from orm_models.cli_args import UsageError, database_url_argument
from orm_models.cli_registry import add_registry_commands, migrate_with_gate

# Alembic, SQLAlchemy and the modules built on them are imported by the commands that use them,
# so that `--version` and `--help` answer without loading them.

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_Handler = Callable[[argparse.Namespace], int]


def _shipped_revision(revision: str) -> str:
    """`revision` when this package ships it (an id, `head` or `base`), else a usage error."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from orm_models.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    if revision in {"head", "heads"}:  # both branches' heads (contracts held back unless --contract)
        return "head"
    try:
        if revision.strip():
            scripts.get_revisions(revision)
            return revision
    except CommandError:
        pass
    shipped = ", ".join(reversed([script.revision for script in scripts.walk_revisions()]))
    raise UsageError(f"unknown revision {revision!r}; this package ships {shipped} (or head, base)")


def _migrate(arguments: argparse.Namespace) -> int:
    """Apply the pending migrations shipped in this package.

    The revisions form two Alembic branches, expand and contract. Every pending expand
    revision runs (none depends on a contract one). Contract revisions (they drop or
    tighten what older clients may still map) are held back unless --contract is given;
    a database that was never migrated gets every revision.

    With --contract, each contract revision passes the gate first: no client registered
    and seen within --live-window may still map what it drops or tightens, else nothing
    changes and the blocking clients are listed (exit 1). --force --reason TEXT overrides
    the gate and records who, when and why in the registry's audit table.
    """
    revision = _shipped_revision(arguments.revision)
    return migrate_with_gate(database_url_argument(arguments), revision, arguments)


def _current(arguments: argparse.Namespace) -> int:
    """Print the revision the database is at ("empty (never migrated)" when none)."""
    from sqlalchemy import create_engine

    from orm_models.migrate import current_revision

    engine = create_engine(database_url_argument(arguments))
    try:
        with engine.connect() as connection:
            print(current_revision(connection) or "empty (never migrated)")
    finally:
        engine.dispose()
    return EXIT_OK


def _check(arguments: argparse.Namespace) -> int:
    """Diff the schema against the last release and gate the version.

    PATH (--baseline, --current) is a manifest .json, a wheel or a src directory holding
    orm_models; without --baseline, schema-baseline.json is looked for in the working
    directory and its orm-models/; without --current the installed orm_models is checked,
    and without --version its version. Unless --no-database, scratch databases are migrated
    to the baseline's and the current head (on --database-url / $DATABASE_URL, else an
    embedded PostgreSQL) and compared with the same rules and with the models, and the
    witnesses run there: the previous release's code (its wheel from $ORM_INDEX_URL, else
    built from the commit in releases.toml) against the candidate's expand head, and the
    candidate against a database whose contracts are held back; an operation that breaks is
    a major change, shown with the database's error.
    Exit 0 when the version carries at least the required bump, or is not bumped yet
    (unreleased work: "pending: minor" says what the next release must be), and no new
    revision is unsafe without an accepted reason; 1 when the version is bumped too little
    (or is lower than the baseline's) or a revision is unsafe; 2 when the migrations build another
    schema than the models describe. --explain RULE prints a rule: who breaks, the safe
    route. Needs griffe: pip install 'orm-models[check]'.
    """
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
        witnesses=not arguments.no_witnesses,
    )
    print(to_json(result) if arguments.json else to_table(result))
    if result.drift:
        return EXIT_USAGE  # the migrations build another schema than the models describe
    return EXIT_OK if result.ok else EXIT_FAILED


def _changelog(arguments: argparse.Namespace) -> int:
    """Print the Keep a Changelog section generated from the schema diff.

    With --write, insert it under "## [Unreleased]" of that file instead (a re-run for a
    version already there changes nothing). Unless --no-database, scratch databases are
    migrated as `check` does, so what only the migrations change (a raw-SQL CHECK, an
    index) is listed too, marked "in the migrated database only".
    """
    from orm_models.schema.changelog import insert_section, render_section
    from orm_models.schema.check import changes_with_database, load_pair
    from orm_models.schema.versioning import parse_version

    parse_version(arguments.project_version)
    baseline, current = load_pair(arguments.baseline, arguments.current)
    changes = changes_with_database(
        baseline,
        current,
        arguments.current,
        database=not arguments.no_database,
        database_url=arguments.database_url or os.environ.get("DATABASE_URL"),
    )
    section = render_section(arguments.project_version, arguments.date, changes)
    if arguments.write is None:
        print(section, end="")
    elif insert_section(arguments.write, section):
        print(f"added [{arguments.project_version}] to {arguments.write}")
    else:
        print(f"{arguments.write} already has [{arguments.project_version}]; left unchanged")
    return EXIT_OK


def _manifest(arguments: argparse.Namespace) -> int:
    """Print or write the canonical schema manifest.

    E.g. to refresh orm-models/schema-baseline.json from the published wheel after a
    release: orm-models manifest --from dist/orm_models-X.Y.Z-py3-none-any.whl
    --output schema-baseline.json
    """
    from orm_models.schema.manifest import dumps
    from orm_models.schema.sources import installed_manifest, read_manifest

    manifest = read_manifest(arguments.source) if arguments.source else installed_manifest()
    if arguments.output is None:
        print(dumps(manifest), end="")
    else:
        arguments.output.write_text(dumps(manifest), encoding="utf-8")
        print(f"wrote the manifest of orm-models {manifest['version']} to {arguments.output}")
    return EXIT_OK


def _revision(arguments: argparse.Namespace) -> int:
    """Write a new migration revision into the orm-models source tree.

    The file is migrations/versions/rev_<NNNN>_<message>.py, with its phase: expand
    (additive, safe for every client of the same major; chained after the expand branch's
    head) or contract (drops or tightens; chained after the contract branch's head and
    depending on the expand head; `orm-models migrate` holds it back until asked, and its
    `drops` names what it removes).

    --rename TABLE.OLD:NEW (instead of -m) writes a revision of a column rename, one per
    release: first the expand (the new column, typed as the models type either name, a
    trigger that keeps both in step on every write, the old values copied over in batches),
    released as a minor; the services move to the new name one at a time; then, with
    --phase contract, its contract (the trigger and the old column dropped, depending on
    that expand revision), released as a major.

    --autogenerate fills in the operations that take the tree's migrations to its models,
    compared on --database-url / $DATABASE_URL (a database at the newest revision, or an
    empty one: a scratch database beside it is migrated and dropped afterwards) or, when
    neither is set, on an embedded PostgreSQL (pip install 'orm-models[testing]').

    The tree is --versions-dir, else the first src/orm_models or orm-models/src/orm_models
    from the working directory upwards, else the imported orm_models if it is a source
    checkout (editable install); an installed wheel is never written to. The new revision
    is linted, and what `orm-models check` says against the tree's schema-baseline.json is
    printed. Exit 1 when the lint flags the new revision (the file stays, to be edited).
    """
    from orm_models.authoring.revision import RevisionWriteError, describe, new_rename, new_revision

    if arguments.rename and (arguments.message or arguments.autogenerate):
        raise UsageError("--rename writes its revision itself: give it without -m and --autogenerate")
    if not arguments.rename and not (arguments.message and arguments.phase):
        raise UsageError(
            "give -m MESSAGE and --phase expand|contract, or --rename TABLE.OLD:NEW [--phase contract]"
        )
    try:
        if arguments.rename:
            written = new_rename(
                arguments.rename, arguments.phase or "expand", versions_dir=arguments.versions_dir
            )
        else:
            written = new_revision(
                arguments.message,
                arguments.phase,
                autogenerate=arguments.autogenerate,
                versions_dir=arguments.versions_dir,
                database_url=database_url_argument(arguments) if _url_given(arguments) else None,
            )
    except RevisionWriteError as error:
        return _fail(str(error), EXIT_FAILED)
    report, ok = describe(written, baseline=arguments.baseline)
    print(report)
    if arguments.rename and written.lint.phase == "expand":
        print(
            "\nMap both names in the models, release it as a minor and move the services to the new "
            f"name; then write its contract with `orm-models revision --rename {arguments.rename.strip()} "
            "--phase contract`."
        )
    return EXIT_OK if ok else EXIT_FAILED


def _url_given(arguments: argparse.Namespace) -> bool:
    return bool(arguments.database_url or os.environ.get("DATABASE_URL"))


def _add_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, handler: _Handler
) -> argparse.ArgumentParser:
    """A subcommand whose --help is its handler's docstring, line breaks kept."""
    doc = inspect.cleandoc(handler.__doc__ or name)
    sub = commands.add_parser(
        name,
        help=doc.splitlines()[0].rstrip("."),
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(handler=handler)
    return sub


def _database_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--database-url", metavar="URL", help="default: $DATABASE_URL")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orm-models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"orm-models {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = _add_command(commands, "migrate", _migrate)
    sub.add_argument("--revision", default="head", help="target revision (default: head)")
    sub.add_argument(
        "--contract", action="store_true", help="also apply contract revisions (they drop or tighten)"
    )
    _database_option(sub)
    # --live-window/--force/--reason on migrate, `status`, `clients forget` (cli_registry.py).
    add_registry_commands(commands, sub, _add_command, _database_option)

    sub = _add_command(commands, "current", _current)
    _database_option(sub)

    sub = _add_command(commands, "revision", _revision)
    sub.add_argument("-m", "--message", help="what the revision does; names the file")
    sub.add_argument("--phase", choices=["expand", "contract"])
    sub.add_argument(
        "--rename",
        metavar="TABLE.OLD:NEW",
        help="write a column rename's expand revision (its contract with --phase contract)",
    )
    sub.add_argument("--autogenerate", action="store_true", help="fill in the operations from the models")
    sub.add_argument(
        "--versions-dir", type=Path, metavar="DIR", help="where to write it (default: found, see above)"
    )
    sub.add_argument("--baseline", type=Path, metavar="PATH", help="default: the tree's schema-baseline.json")
    _database_option(sub)

    sub = _add_command(commands, "check", _check)
    sub.add_argument(
        "--baseline", type=Path, metavar="PATH", help="manifest of the last release (default: found)"
    )
    sub.add_argument("--current", type=Path, metavar="PATH", help="default: the installed orm_models")
    sub.add_argument("--version", dest="project_version", help="default: the current version")
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument("--explain", metavar="RULE", help="print a rule: who breaks, why, safe route")
    sub.add_argument(
        "--no-database", action="store_true", help="skip migrating scratch databases (models only)"
    )
    sub.add_argument(
        "--database-url",
        metavar="URL",
        help="server for scratch databases (default: $DATABASE_URL, else embedded)",
    )
    sub.add_argument(
        "--no-witnesses", action="store_true", help="compare facts only; run no code against the databases"
    )

    sub = _add_command(commands, "changelog", _changelog)
    sub.add_argument(
        "--baseline", type=Path, required=True, metavar="PATH", help="manifest of the last release"
    )
    sub.add_argument("--current", type=Path, metavar="PATH", help="default: the installed orm_models")
    sub.add_argument("--version", dest="project_version", required=True)
    sub.add_argument("--date", default=date.today().isoformat(), help="default: today")
    sub.add_argument("--write", type=Path, metavar="CHANGELOG", help="insert it into this file")
    sub.add_argument("--no-database", action="store_true", help="the models' diff only (no migrations run)")
    sub.add_argument(
        "--database-url",
        metavar="URL",
        help="server for scratch databases (default: $DATABASE_URL, else embedded)",
    )

    sub = _add_command(commands, "manifest", _manifest)
    sub.add_argument(
        "--from", dest="source", type=Path, metavar="PATH", help="default: the installed orm_models"
    )
    sub.add_argument("--output", type=Path, metavar="PATH", help="default: standard output")
    return parser


def _fail(message: str, status: int) -> int:
    print(f"orm-models: {message}", file=sys.stderr)
    return status


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `orm-models` console script; returns the exit status."""
    arguments = _build_parser().parse_args(argv)  # a usage error exits 2 here
    from orm_models.observed import OWN_APPLICATION

    # libpq's default application name: the contract gate does not count this command's own
    # sessions as clients (a URL's application_name still wins).
    previous = os.environ.get("PGAPPNAME")
    os.environ["PGAPPNAME"] = f"{OWN_APPLICATION} {arguments.command}"
    try:
        return _run(arguments)
    finally:  # main() also runs inside other programs (tests): leave their environment as it was
        if previous is None:
            del os.environ["PGAPPNAME"]
        else:
            os.environ["PGAPPNAME"] = previous


def _run(arguments: argparse.Namespace) -> int:
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    try:
        status = int(arguments.handler(arguments))
        sys.stdout.flush()  # a closed pipe raises here, inside the try, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader went away (`orm-models check --json | head`): stop quietly. Python
        # flushes stdout again at exit, so point it at devnull first (the Python docs' recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except (UsageError, ValueError) as error:  # the schema tooling raises ValueError for bad input
        return _fail(str(error), EXIT_USAGE)
    except OSError as error:
        if error.filename is None:
            raise
        return _fail(f"{error.filename}: {error.strerror}", EXIT_USAGE)
    except ModuleNotFoundError as error:
        if error.name != "griffe":
            raise
        return _fail("the schema commands need griffe: pip install 'orm-models[check]'", EXIT_USAGE)
    except DBAPIError as error:
        # The driver's message names host and reason but never the password; its SQL and
        # parameters (the rest of str(error)) stay out of a one-line error.
        reason = _first_line(error.orig) if error.orig is not None else _first_line(error)
        if error.statement is None or error.connection_invalidated:
            return _fail(f"cannot reach the database: {reason}", EXIT_FAILED)
        return _fail(f"the database refused a statement: {reason}", EXIT_FAILED)
    except (CommandError, RevisionError) as error:  # e.g. a database a newer release migrated
        return _fail(f"alembic: {_first_line(error)}", EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
