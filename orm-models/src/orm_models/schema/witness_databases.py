"""The witnesses' scratch databases: `python witness_databases.py SRC_DIR BASE_HEAD NAME=TARGET...`.

Run by `witnesses.py` in its own interpreter with the *candidate tree's* `orm_models` first on
`sys.path` (its migrations build every database). On the server whose URL is in
`ORM_MODELS_CHECK_URL` it creates one database per NAME, migrated to TARGET:

- `base`: the last release's head (BASE_HEAD);
- `expand`: BASE_HEAD, then the candidate's expand head (contracts held back, as
  `orm-models migrate` leaves a database while old clients run);
- `head`: BASE_HEAD, then every revision, contracts included.

A TARGET ending in `?` is made only when the expand head holds a contract back (else that
database would repeat another). It prints {"expand_head", "head", "held_back", "databases":
{NAME: URL}}. The caller drops the databases (names start with `orm_models_witness_`).
"""

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

URL_VARIABLE = "ORM_MODELS_CHECK_URL"
PREFIX = "orm_models_witness_"


def expand_head(scripts: Any, base_head: str | None) -> str:
    """The newest revision a database reaches while contracts are held back.

    With expand/contract branches it is the `expand` branch's head; on one line of revisions it
    is the last one before the first contract revision the base head does not have yet.
    """
    if "expand" in _labels(scripts):
        return "expand@head"
    head = scripts.get_current_head()
    chain = list(reversed(list(scripts.iterate_revisions(head, base_head or "base"))))
    reached = base_head or "base"
    for script in chain:
        if getattr(script.module, "phase", "expand") == "contract":
            break
        reached = script.revision
    return str(reached)


def _labels(scripts: Any) -> set[str]:
    return {label for script in scripts.walk_revisions() for label in (script.branch_labels or ())}


def full_head(scripts: Any) -> str:
    """Every head, contracts included: `heads` reaches both branches when there are two."""
    return "heads" if len(scripts.get_heads()) > 1 else "head"


def main(argv: list[str]) -> int:
    """Create and migrate the databases named in argv; print their URLs as JSON."""
    url = os.environ.get(URL_VARIABLE)
    if len(argv) < 4 or not url:
        print(f"usage: {URL_VARIABLE}=... python witness_databases.py SRC_DIR BASE_HEAD|- NAME=TARGET...",
              file=sys.stderr)  # fmt: skip
        return 2
    sys.path[0] = str(Path(argv[1]).resolve())  # the tree's orm_models must win
    base_head = None if argv[2] == "-" else argv[2]

    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from orm_models.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    targets = {"base": base_head, "expand": expand_head(scripts, base_head), "head": full_head(scripts)}
    held_back = _resolve(scripts, targets["expand"]) != set(scripts.get_heads())
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    databases: dict[str, str] = {}

    def create(template: str | None = None) -> str:
        database = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"{clause}'))
        return make_url(url).set(database=database).render_as_string(hide_password=False)

    def upgrade(database: str, target: str | None) -> None:
        if target is None:
            return
        engine = create_engine(database)
        try:
            # The engine: Alembic owns the transaction, so autocommit blocks (CONCURRENTLY) run.
            # A release from 2.5 on records both branch heads, "0003 0006": one upgrade each.
            for head in target.split():
                command.upgrade(alembic_config(engine), head)
        finally:
            engine.dispose()  # a template must have no connections left

    try:
        # Migrated to the base head once; every database starts as a copy of it (a file copy).
        databases[" base"] = create()
        upgrade(databases[" base"], base_head)
        template = make_url(databases[" base"]).database
        for pair in argv[3:]:
            name, target = pair.split("=", 1)
            if target.endswith("?"):
                if not held_back:
                    continue
                target = target[:-1]
            databases[name] = create(template)
            upgrade(databases[name], targets[target])
    except BaseException:
        _drop_all(admin, databases.values())
        raise
    _drop_all(admin, [databases.pop(" base")])
    admin.dispose()
    document = {
        "expand_head": targets["expand"],
        "head": targets["head"],
        "held_back": held_back,
        "databases": databases,
    }
    sys.stdout.write(json.dumps(document))
    return 0


def _drop_all(admin: Any, urls: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    with admin.connect() as connection:
        for created in urls:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(created).database}" WITH (FORCE)'))


def _resolve(scripts: Any, target: str | None) -> set[str]:
    if target is None:
        return set()
    return {script.revision for script in scripts.get_revisions(target) if script is not None}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
