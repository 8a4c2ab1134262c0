"""Write one Alembic revision into a source tree: `python generate.py < request.json`.

Run as a script, in its own interpreter, by `orm_models.authoring.revision`: it imports the
*tree's* `orm_models` (models, env.py, the revisions' own imports), never the installed one,
so `--autogenerate` compares the models being edited, not those of an installed wheel. The
request comes on standard input (it may hold a database URL with a password); the reply, one
JSON object, on standard output.
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FILE_TEMPLATE = "rev_%%(rev)s_%%(slug)s"  # %% escapes configparser interpolation
PHASE_ATTRIBUTE = "orm_models.phase"
DROPS_ATTRIBUTE = "orm_models.drops"


def _drops(operations: Any) -> list[str]:
    """`table.column` / `table` of every drop among autogenerate's operations (nested too)."""
    from alembic.operations import ops

    found: list[str] = []
    for operation in operations.ops:
        if isinstance(operation, ops.DropColumnOp):
            found.append(f"{operation.table_name}.{operation.column_name}")
        elif isinstance(operation, ops.DropTableOp):
            found.append(operation.table_name)
        elif isinstance(operation, ops.OpContainer):
            found.extend(_drops(operation))
    return found


def _migrated(connection: Any) -> bool:
    from sqlalchemy import inspect

    return any(inspect(connection).has_table(name) for name in ("alembic_heads", "alembic_version"))


def describe(request: dict[str, Any]) -> dict[str, Any]:
    """What the tree's models say about `table.column` (for the rename scaffold)."""
    import orm_models

    table = orm_models.Base.metadata.tables.get(request["table"])
    if table is None:
        raise LookupError(f"the models map no table {request['table']!r}")
    found = [table.c[name] for name in request["columns"] if name in table.c]
    if not found:
        raise LookupError(f"{request['table']} maps none of {', '.join(request['columns'])}")
    primary = [column.name for column in table.primary_key.columns]
    return {"type": f"sa.{found[0].type!r}", "primary_key": primary[0] if len(primary) == 1 else "ctid"}


def generate(request: dict[str, Any]) -> dict[str, Any]:
    """Write the revision `request` describes; return its path and whether it is empty."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", request["migrations_dir"])
    config.set_main_option("version_locations", request["versions_dir"])
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.attributes[PHASE_ATTRIBUTE] = request["phase"]
    reply: dict[str, Any] = {"empty": False}

    def directives(_context: Any, _revision: Any, scripts: list[Any]) -> None:
        upgrade = scripts[0].upgrade_ops
        reply["empty"] = upgrade.is_empty()
        config.attributes[DROPS_ATTRIBUTE] = tuple(sorted(set(_drops(upgrade))))

    # Two branches (OpenStack Neutron's model): an expand revision comes after the expand head
    # and never after a contract one; a contract revision after the contract head, depending
    # on the expand head (what it removes was replaced there).
    arguments = {
        "message": request["message"],
        "rev_id": request["rev_id"],
        "version_path": request["versions_dir"],
        "process_revision_directives": directives,
        "head": f"{request['phase']}@head",
        "depends_on": request.get("depends_on"),
    }
    if not request["autogenerate"]:
        script = command.revision(config, **arguments)
    else:
        script = _autogenerate(config, arguments, str(request["url"]), bool(request["migrate_first"]))
    reply["path"] = str(getattr(script, "path", ""))
    return reply


class NoScratchDatabaseError(RuntimeError):
    """The database is empty, a revision needs an autocommit block, and CREATE DATABASE was refused."""


def _autogenerate(config: Any, arguments: dict[str, Any], url: str, migrate_first: bool) -> Any:
    """`alembic revision --autogenerate`, comparing on `url` and leaving it as it was.

    A database in use (migrated) must be at the tree's heads: compared in a transaction rolled
    back. An empty one (or the embedded scratch server) is never migrated itself: a scratch
    database beside it is, with Alembic owning the transactions (a revision may commit them in
    `op.get_context().autocommit_block()`, e.g. CREATE INDEX CONCURRENTLY), and dropped after.
    """
    from alembic import command
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            in_use = not migrate_first and _migrated(connection)
        if in_use:
            with engine.connect() as connection, connection.begin() as transaction:
                config.attributes["connection"] = connection
                script = command.revision(config, autogenerate=True, **arguments)
                transaction.rollback()  # autogenerate only reads; leave the database as it was
            return script
        try:
            with _scratch_database(engine) as scratch:
                config.attributes["connection"] = scratch  # an Engine: Alembic owns the transactions
                command.upgrade(config, "heads")
                return command.revision(config, autogenerate=True, **arguments)
        except _CreateDatabaseRefusedError as refused:
            return _autogenerate_in_transaction(config, arguments, engine, refused.reason)
    finally:
        engine.dispose()


def _autogenerate_in_transaction(config: Any, arguments: dict[str, Any], engine: Any, refused: str) -> Any:
    """Migrate the empty database itself in a transaction rolled back: no autocommit block can run."""
    from alembic import command

    from orm_models.migrate import AutocommitInCallerTransactionError

    with engine.connect() as connection, connection.begin() as transaction:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "heads")
            script = command.revision(config, autogenerate=True, **arguments)
        except AutocommitInCallerTransactionError as error:
            raise NoScratchDatabaseError(
                f"the database is empty, and revision {error.revision} runs in "
                "op.get_context().autocommit_block(), so autogenerate migrates a scratch database, "
                f"but the server refused CREATE DATABASE ({refused}): pass --database-url of a "
                "database already at the newest revision (orm-models migrate --contract brings one there)"
            ) from None
        transaction.rollback()
    return script


class _CreateDatabaseRefusedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def _scratch_database(engine: Any) -> Iterator[Any]:
    """An engine on a new, uniquely named database of `engine`'s server, dropped afterwards (failure too)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ProgrammingError

    name = f"orm_models_revision_{uuid.uuid4().hex[:12]}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except ProgrammingError as error:  # e.g. insufficient_privilege: a role without CREATEDB
        lines = str(error.orig).strip().splitlines() or [""]
        raise _CreateDatabaseRefusedError(lines[0]) from None
    scratch = create_engine(engine.url.set(database=name))
    try:
        yield scratch
    finally:
        scratch.dispose()
        with admin.connect() as connection:
            # FORCE (PostgreSQL 13+) ends a session a failed migration may have left behind.
            force = " WITH (FORCE)" if connection.dialect.server_version_info >= (13,) else ""
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"{force}'))


def main() -> int:
    """Read the request, write the revision, print the reply; exit 1 with the error otherwise."""
    request = json.load(sys.stdin)
    # Replace this script's directory (sys.path[0]) by the tree: its orm_models must win.
    if request["src_dir"]:
        sys.path[0] = str(Path(request["src_dir"]).resolve())
    else:
        del sys.path[0]
    try:
        reply = describe(request) if request.get("describe") else generate(request)
    except LookupError as error:  # the request names what the models do not have: the user's input
        print(json.dumps({"invalid": str(error.args[0] if error.args else error)}))
        return 1
    except Exception as error:  # reported by the caller as one line; the type tells what failed
        lines = str(error).strip().splitlines() or [""]
        print(json.dumps({"error": f"{type(error).__name__}: {lines[0]}"}))
        return 1
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
