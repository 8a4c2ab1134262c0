"""`orm-models migrate --contract`, `status` and `clients forget`: the registry's commands.

`cli.py` registers them with `add_registry_commands`; the logic stays here.

Exit statuses: 0 done; 1 a contract refused by the gate (a table of the blocking clients on
stdout), the database ahead of this release or unreachable, or nothing to forget; 2 usage errors.
"""

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING

from orm_models.cli_args import UsageError, database_url_argument, safe_url

# SQLAlchemy, Alembic and the modules built on them are imported by the commands that use them:
# `orm-models --help` and `--version` build these parsers and answer without them.
if TYPE_CHECKING:
    from sqlalchemy.engine import URL

EXIT_OK = 0
EXIT_FAILED = 1


class _GateDefault:
    """A duration option's default, named by module and constant and imported when used.

    `--help` of `migrate` and `status` prints it (argparse's `%(default)s`); building the parser
    for `orm-models --help` and `--version` does not import the gate.
    """

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    def value(self) -> timedelta:
        duration: timedelta = getattr(import_module(self._module), self._name)
        return duration

    def __str__(self) -> str:
        from orm_models.status import format_duration

        return format_duration(self.value())


_LIVE_WINDOW = _GateDefault("orm_models.contract_gate", "DEFAULT_LIVE_WINDOW")
_HEARTBEAT_INTERVAL = _GateDefault("orm_models.registry", "DEFAULT_HEARTBEAT_INTERVAL")


def _duration_option(arguments: argparse.Namespace, name: str) -> timedelta:
    """A duration option, parsed here rather than by argparse: a bad one is one line, exit 2."""
    from orm_models.status import parse_duration

    given = getattr(arguments, name)
    if isinstance(given, _GateDefault):  # the default
        return given.value()
    if isinstance(given, timedelta):
        return given
    try:
        return parse_duration(given)
    except ValueError as error:
        raise UsageError(f"--{name.replace('_', '-')}: {error}") from None


def migrate_with_gate(url: "URL", revision: str, arguments: argparse.Namespace) -> int:
    """`orm-models migrate` once its revision and URL are checked: the gate's refusal as a table."""
    from orm_models.contract_gate import ContractBlockedError
    from orm_models.migrate import DatabaseAheadError, head_revision, migrate, pending_contract_drops
    from orm_models.status import blockers_table

    if arguments.force and not arguments.contract:
        raise ValueError("--force only applies with --contract")
    try:
        held = migrate(
            url.render_as_string(hide_password=False),
            revision,
            contract=arguments.contract,
            live_window=_duration_option(arguments, "live_window"),
            force=arguments.force,
            reason=arguments.reason,
            heartbeat_interval=_duration_option(arguments, "heartbeat_interval"),
            ignore=arguments.ignore_application,
        )
    except ContractBlockedError as refused:
        print(
            f"orm-models: contract revision {refused.revision} refused: it removes "
            f"{', '.join(refused.removes)}, which these clients seen within the live window still map; "
            "nothing was changed:",
            file=sys.stderr,
        )
        print(blockers_table(refused.blockers))
        print(
            "Move them to a release that no longer maps these columns, stop the observed ones that "
            "are not registered (or vouch for one with --ignore-application NAME), retire what is "
            "gone with `orm-models clients forget NAME [--version V]`, or override with "
            "--force --reason '...'.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except DatabaseAheadError as ahead:
        print(f"orm-models: {ahead}", file=sys.stderr)
        return EXIT_FAILED
    if held is None:
        print(f"migrated {safe_url(url)} to {revision} ({head_revision()} is the newest shipped)")
        return EXIT_OK
    drops = ", ".join(pending_contract_drops(held)) or "see the revision"
    print(
        f"migrated {safe_url(url)} up to the expand revisions; stopped before contract revision {held} "
        f"(removes: {drops}).\nRun `orm-models status` to see who still maps it, then "
        "`orm-models migrate --contract`."
    )
    return EXIT_OK


def _status(arguments: argparse.Namespace) -> int:
    """Show the database revision, pending revisions, registered clients and the contract gate.

    Pending revisions are listed with their phase and, for a contract revision, what it
    drops and whether the gate would let it run now (if not, who blocks it). Clients are
    live when seen within --live-window, stale otherwise.
    """
    from sqlalchemy import create_engine

    from orm_models.status import collect_status, to_json, to_text

    window = _duration_option(arguments, "live_window")
    engine = create_engine(database_url_argument(arguments))
    try:
        with engine.begin() as connection:  # its sample of pg_stat_activity is kept
            status = collect_status(connection, window)
    finally:
        engine.dispose()
    print(to_json(status) if arguments.json else to_text(status))
    return EXIT_OK


def _forget(arguments: argparse.Namespace) -> int:
    """Retire a decommissioned service (every version and instance, or --version V / --instance I).

    Without --version and --instance, what PostgreSQL observed under that application name goes
    too (a client still connected is observed again at the next sample). The removal is recorded
    in the registry's audit table. Exit 1 when nothing matched.
    """
    from sqlalchemy import create_engine

    from orm_models.registry import forget_client

    engine = create_engine(database_url_argument(arguments))
    try:
        removed = forget_client(engine, arguments.service, arguments.instance, arguments.version)
    finally:
        engine.dispose()
    who = arguments.service + (f" {arguments.version}" if arguments.version else "")
    who += f" instance {arguments.instance}" if arguments.instance else ""
    if not removed:
        print(f"orm-models: no registered client {who}; nothing changed", file=sys.stderr)
        return EXIT_FAILED
    print(f"forgot {who} ({removed} registration(s)); recorded in schema_client_audit")
    return EXIT_OK


_AddCommand = Callable[
    ["argparse._SubParsersAction[argparse.ArgumentParser]", str, Callable[[argparse.Namespace], int]],
    argparse.ArgumentParser,
]


def _plain_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    name: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=(handler.__doc__ or name).splitlines()[0].rstrip("."))
    sub.set_defaults(handler=handler)
    return sub


def _plain_database_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--database-url", help="defaults to $DATABASE_URL")


def add_registry_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    migrate_parser: argparse.ArgumentParser,
    add_command: _AddCommand | None = None,
    database_option: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Give `migrate` the gate's options and add `status` and `clients forget`.

    `cli.py` passes its own `add_command` and `database_option`, so these commands read and
    document themselves like the others; without them plain argparse parsers are added (the
    2.3.0 signature, kept for callers of this public function).
    """
    add_command = add_command or _plain_command
    database_option = database_option or _plain_database_option
    window = "a client seen this recently counts as live (default %(default)s; e.g. 24h, 90m, 2d, 30s)"
    migrate_parser.add_argument("--live-window", default=_LIVE_WINDOW, metavar="DURATION", help=window)
    migrate_parser.add_argument(
        "--heartbeat-interval",
        default=_HEARTBEAT_INTERVAL,
        metavar="DURATION",
        help=(
            "how often your services heartbeat (default %(default)s, the API's); a shorter "
            "--live-window, or one shorter than a live client's declared heartbeat, needs "
            "--force --reason"
        ),
    )
    migrate_parser.add_argument(
        "--ignore-application",
        action="append",
        default=[],
        metavar="NAME",
        help="an application name whose observed sessions do not block (repeatable; audited)",
    )
    migrate_parser.add_argument(
        "--force", action="store_true", help="apply the contract despite live clients"
    )
    migrate_parser.add_argument("--reason", help="why --force is right (recorded in the audit table)")

    status_parser = add_command(commands, "status", _status)
    status_parser.add_argument("--json", action="store_true", help="machine-readable output")
    status_parser.add_argument("--live-window", default=_LIVE_WINDOW, metavar="DURATION", help=window)
    database_option(status_parser)

    clients_parser = commands.add_parser(
        "clients", help="the client registry", description="The client registry."
    )
    clients_commands = clients_parser.add_subparsers(dest="clients_command", required=True, metavar="COMMAND")
    forget_parser = add_command(clients_commands, "forget", _forget)
    forget_parser.add_argument("service")
    forget_parser.add_argument("--version", help="only this orm-models version (default: every version)")
    forget_parser.add_argument("--instance", help="only this instance (default: every instance)")
    database_option(forget_parser)
