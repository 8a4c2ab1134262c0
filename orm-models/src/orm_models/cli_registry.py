"""`orm-models migrate --contract`, `status` and `clients forget`: the registry's commands.

`cli.py` registers them with `add_registry_commands`; the logic stays here.

Exit statuses: 0 done; 1 a contract refused by the gate (a table of the blocking clients on
stdout), the database ahead of this release, or nothing to forget; 2 usage or connection errors.
"""

import argparse
import os
import sys
from datetime import timedelta

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from orm_models.contract_gate import DEFAULT_LIVE_WINDOW, ContractBlockedError
from orm_models.migrate import DatabaseAheadError, head_revision, migrate, pending_contract_drops
from orm_models.registry import forget_client
from orm_models.status import blockers_table, collect_status, parse_duration, to_json, to_text

EXIT_OK = 0
EXIT_FAILED = 1


def _url(arguments: argparse.Namespace) -> str:
    url: str | None = arguments.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("orm-models: set DATABASE_URL or pass --database-url")
    try:
        make_url(url)
    except ArgumentError:
        raise SystemExit("orm-models: DATABASE_URL is not a valid database URL") from None
    return url


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _window(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _migrate(arguments: argparse.Namespace) -> int:
    url = _url(arguments)
    if arguments.force and not arguments.contract:
        raise ValueError("--force only applies with --contract")
    try:
        held = migrate(
            url,
            arguments.revision,
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
        print(f"migrated {_safe(url)} to {arguments.revision} ({head_revision()} is the newest shipped)")
        return EXIT_OK
    drops = ", ".join(pending_contract_drops(held)) or "see the revision"
    print(
        f"migrated {_safe(url)} up to the expand revisions; stopped before contract revision {held} "
        f"(removes: {drops}).\nRun `orm-models status` to see who still maps it, then "
        "`orm-models migrate --contract`."
    )
    return EXIT_OK


def _status(arguments: argparse.Namespace) -> int:
    engine = create_engine(_url(arguments))
    try:
        with engine.connect() as connection:
            status = collect_status(connection, arguments.live_window)
    finally:
        engine.dispose()
    print(to_json(status) if arguments.json else to_text(status))
    return EXIT_OK


def _forget(arguments: argparse.Namespace) -> int:
    engine = create_engine(_url(arguments))
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


def add_registry_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]", migrate_parser: argparse.ArgumentParser
) -> None:
    """Give `migrate` the gate's options and add `status` and `clients forget`."""
    hours = int(DEFAULT_LIVE_WINDOW.total_seconds() // 3600)
    window = f"a client seen this recently counts as live (default {hours}h)"
    migrate_parser.add_argument("--live-window", type=_window, default=DEFAULT_LIVE_WINDOW, help=window)
    migrate_parser.add_argument(
        "--force", action="store_true", help="apply the contract despite live clients"
    )
    migrate_parser.add_argument("--reason", help="why --force is right (recorded in the audit table)")
    migrate_parser.set_defaults(handler=_migrate)

    status_parser = commands.add_parser("status", help="revision, pending revisions, clients, contract gate")
    status_parser.add_argument("--json", action="store_true", help="machine-readable output")
    status_parser.add_argument("--live-window", type=_window, default=DEFAULT_LIVE_WINDOW, help=window)
    status_parser.set_defaults(handler=_status)

    clients_parser = commands.add_parser("clients", help="the client registry")
    clients_commands = clients_parser.add_subparsers(dest="clients_command", required=True)
    forget_parser = clients_commands.add_parser("forget", help="retire a decommissioned service (audited)")
    forget_parser.add_argument("service")
    forget_parser.add_argument("--instance", help="only this instance (default: every instance)")
    forget_parser.set_defaults(handler=_forget)

    for sub in (status_parser, forget_parser):
        sub.add_argument("--database-url", help="defaults to $DATABASE_URL")
