"""What a tree's migrations build: `python dbsnapshot.py SRC_DIR BASE_HEAD` prints JSON.

Run in its own interpreter by `dbcompare.py`, like `snapshot.py`: it imports the *tree's*
`orm_models` (models and migrations) and loads this tooling under another name. On the server
whose URL is in `ORM_MODELS_CHECK_URL` (not in argv, which `ps` shows) it creates two scratch
databases and drops them again:

- one migrated to BASE_HEAD (the last release's head), reflected, then upgraded to the tree's
  head, reflected again, and compared with the models by Alembic's `compare_metadata`;
- one where `Base.metadata.create_all` builds the models, reflected, so that models and
  migrations are compared as PostgreSQL spells both.
"""

import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

_FREE_SEQUENCES = """
SELECT c.relname, s.data_type::text, s.start_value, s.increment_by, s.min_value, s.max_value,
       s.cache_size, s.cycle
FROM pg_class c JOIN pg_sequences s ON s.sequencename = c.relname AND s.schemaname = 'public'
WHERE c.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('i', 'a'))
"""

# Every user trigger on a table: its definition (timing, events, WHEN, function) and a hash of
# the function's body, so CREATE OR REPLACE FUNCTION behind an unchanged trigger counts too.
_TRIGGERS = """
SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), md5(p.prosrc)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def _triggers(connection: Any) -> dict[str, dict[str, str]]:
    from sqlalchemy import text

    found = {}
    for schema, table, name, definition, body in connection.execute(text(_TRIGGERS)):
        qualified = table if schema == "public" else f"{schema}.{table}"
        found[f"{qualified}.{name}"] = {"table": qualified, "definition": definition, "function_md5": body}
    return found


def _load_tool() -> ModuleType:
    """This tooling under another name, loaded the way `snapshot.py` does it (one implementation)."""
    spec = importlib.util.spec_from_file_location(
        "_orm_models_snapshot", Path(__file__).resolve().parent / "snapshot.py"
    )
    if spec is None or spec.loader is None:  # pragma: no cover - the file is right here
        raise ImportError("cannot load snapshot.py")
    snapshot_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snapshot_script)
    tool: ModuleType = snapshot_script._load_tool()
    return tool


@contextmanager
def _scratch_database(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"orm_models_check_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# Alembic's (the heads, from 2.5) and the one row releases up to 2.4 read: not schema facts.
_VERSION_TABLES = ("alembic_version", "alembic_heads")
# Before 2.5 the revisions were one chain, contract 0003 before 0004: a fresh database that
# 2.3/2.4 migrated to its head 0004 holds both branches' revisions in the two-branch tree.
_CHAIN_AFTER_CONTRACT = {"0004": ("0003", "0004")}


def _not_a_version_table(name: str | None, type_: str, _parents: Any) -> bool:
    return not (type_ == "table" and name in _VERSION_TABLES)


def _targets(base_head: str) -> tuple[str, ...]:
    """What to upgrade to for a release's `migration_head` ("a b" when it shipped two heads)."""
    heads = tuple(base_head.split())
    return _CHAIN_AFTER_CONTRACT.get(base_head, heads)


# PostgreSQL's own schemas; every other one may hold the package's tables.
_SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast"}


def _reflect(tool: ModuleType, connection: Any) -> dict[str, Any]:
    from sqlalchemy import MetaData, inspect, text

    metadata = MetaData()
    metadata.reflect(connection)
    default = inspect(connection).default_schema_name
    for schema in inspect(connection).get_schema_names():
        if schema != default and schema not in _SYSTEM_SCHEMAS and not schema.startswith("pg_"):
            metadata.reflect(connection, schema=schema)
    for version_table in _VERSION_TABLES:
        if version_table in metadata.tables:
            metadata.remove(metadata.tables[version_table])
    facts: dict[str, Any] = tool.tables.metadata_facts(metadata)
    keys = ("data_type", "start", "increment", "minvalue", "maxvalue", "cache", "cycle")
    rows = connection.execute(text(_FREE_SEQUENCES))
    facts["sequences"] = {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}
    facts["triggers"] = _triggers(connection)
    return facts


def _owned_metadata(models: Any) -> Any:
    """The models' tables plus those of any other `MetaData` the package defines at module level.

    Tooling tables (e.g. a client registry) are created by migrations but kept out of
    `Base.metadata` on purpose; they are still what the migrations must build.
    """
    from sqlalchemy import MetaData

    combined = MetaData(naming_convention=models.naming_convention)
    sources = [models]
    for name, module in sorted(sys.modules.items()):
        if name.startswith("orm_models.") and not name.startswith("orm_models.schema"):
            sources += [v for v in vars(module).values() if isinstance(v, MetaData) and v not in sources]
    for source in sources:
        for table in source.sorted_tables:
            if table.key not in combined.tables:
                table.to_metadata(combined)
    return combined


def _create_schemas(connection: Any, metadata: Any) -> None:
    """The non-default schemas the models name: `create_all` creates tables, never schemas."""
    from sqlalchemy.schema import CreateSchema

    for schema in sorted({table.schema for table in metadata.tables.values() if table.schema}):
        connection.execute(CreateSchema(schema, if_not_exists=True))


def snapshot(url: str, base_head: str | None) -> dict[str, Any]:
    """Reflections at the base head, at the tree's head, of the models; Alembic's differences."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    tool = _load_tool()
    import orm_models
    from orm_models.migrate import alembic_config

    metadata = _owned_metadata(orm_models.Base.metadata)
    result: dict[str, Any] = {}
    with _scratch_database(url) as migrated:
        engine = create_engine(migrated)
        try:
            if base_head is not None:
                # The engine, not a connection in a transaction: Alembic owns the migrations'
                # transaction, so a revision's autocommit block (CREATE INDEX CONCURRENTLY) runs.
                for target in _targets(base_head):
                    command.upgrade(alembic_config(engine), target)
                with engine.connect() as connection:
                    result["base"] = _reflect(tool, connection)
            command.upgrade(alembic_config(engine), "heads")
            with engine.connect() as connection:
                result["head"] = _reflect(tool, connection)
                context = MigrationContext.configure(
                    connection,
                    opts={
                        "compare_type": True,
                        "compare_server_default": True,
                        "include_name": _not_a_version_table,
                        "include_schemas": True,
                    },
                )
                result["alembic"] = [str(diff) for diff in compare_metadata(context, metadata)]
        finally:
            engine.dispose()
    with _scratch_database(url) as built:
        engine = create_engine(built)
        try:
            with engine.begin() as connection:
                _create_schemas(connection, metadata)
                metadata.create_all(connection)
            with engine.connect() as connection:
                result["models"] = _reflect(tool, connection)
        finally:
            engine.dispose()
    return result


def main(argv: list[str]) -> int:
    """Print the snapshot of `argv[1]`'s migrations; exit 2 on a usage error."""
    url = os.environ.get("ORM_MODELS_CHECK_URL")
    if len(argv) != 3 or not url:
        print("usage: ORM_MODELS_CHECK_URL=... python dbsnapshot.py SRC_DIR BASE_HEAD|-", file=sys.stderr)
        return 2
    # Replace this script's directory (sys.path[0]) by the tree: its orm_models must win.
    sys.path[0] = str(Path(argv[1]).resolve())
    base_head = None if argv[2] == "-" else argv[2]
    sys.stdout.write(json.dumps(snapshot(url, base_head), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
