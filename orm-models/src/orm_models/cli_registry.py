"""`orm-models migrate --contract`, `status` and `clients forget`: the registry's commands.

`cli.py` registers them with `add_registry_commands`; the logic stays here.

Exit statuses: 0 done; 1 a contract refused by the gate (a table of the blocking clients on
stdout), the database ahead of this release or unreachable, or nothing to forget; 2 usage errors.
"""

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from orm_models.cli_args import database_url_argument, safe_url
from orm_models.contract_gate import DEFAULT_LIVE_WINDOW, ContractBlockedError
from orm_models.migrate import DatabaseAheadError, head_revision, migrate, pending_contract_drops
from orm_models.registry import forget_client
from orm_models.status import blockers_table, collect_status, parse_duration, to_json, to_text

EXIT_OK = 0
EXIT_FAILED = 1


def _window(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def migrate_with_gate(url: URL, revision: str, arguments: argparse.Namespace) -> int:
    """`orm-models migrate` once its revision and URL are checked: the gate's refusal as a table."""
    if arguments.force and not arguments.contract:
        raise ValueError("--force only applies with --contract")
    try:
        held = migrate(
            url.render_as_string(hide_password=False),
            revision,
            contract=arguments.contract,
            live_window=arguments.live_window,
            force=arguments.force,
            reason=arguments.reason,
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
            "Move them to a release that no longer maps these columns (or retire them with "
            "`orm-models clients forget SERVICE`), or override with --force --reason '...'.",
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
    engine = create_engine(database_url_argument(arguments))
    try:
        with engine.connect() as connection:
            status = collect_status(connection, arguments.live_window)
    finally:
        engine.dispose()
    print(to_json(status) if arguments.json else to_text(status))
    return EXIT_OK


def _forget(arguments: argparse.Namespace) -> int:
    """Retire a decommissioned service (every instance, or --instance I) from the registry.

    The removal is recorded in the registry's audit table. Exit 1 when nothing matched.
    """
    engine = create_engine(database_url_argument(arguments))
    try:
        removed = forget_client(engine, arguments.service, arguments.instance)
    finally:
        engine.dispose()
    who = arguments.service + (f" instance {arguments.instance}" if arguments.instance else "")
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
    hours = int(DEFAULT_LIVE_WINDOW.total_seconds() // 3600)
    window = f"a client seen this recently counts as live (default {hours}h)"
    migrate_parser.add_argument("--live-window", type=_window, default=DEFAULT_LIVE_WINDOW, help=window)
    migrate_parser.add_argument(
        "--force", action="store_true", help="apply the contract despite live clients"
    )
    migrate_parser.add_argument("--reason", help="why --force is right (recorded in the audit table)")

    status_parser = add_command(commands, "status", _status)
    status_parser.add_argument("--json", action="store_true", help="machine-readable output")
    status_parser.add_argument("--live-window", type=_window, default=DEFAULT_LIVE_WINDOW, help=window)
    database_option(status_parser)

    clients_parser = commands.add_parser(
        "clients", help="the client registry", description="The client registry."
    )
    clients_commands = clients_parser.add_subparsers(dest="clients_command", required=True, metavar="COMMAND")
    forget_parser = add_command(clients_commands, "forget", _forget)
    forget_parser.add_argument("service")
    forget_parser.add_argument("--instance", help="only this instance (default: every instance)")
    database_option(forget_parser)
