"""Where a database stands in the two-branch migration tree, and the row older releases read.

From 2.5 the revisions form two Alembic branches (the OpenStack Neutron model): `expand`
(additive; `orm-models migrate` applies it) and `contract` (drops and tightens; `migrate
--contract`, through the gate). A database that has run both holds two heads, one row each.

Releases up to 2.4 read `alembic_version` with `get_current_revision()`, which raises on two rows:
their schema guard would stop a 2.x service inside its own major. So Alembic keeps the heads in
`alembic_heads` (VERSION_TABLE), and `alembic_version` (LEGACY_TABLE) keeps one row for those
releases, written after every migration (`write_legacy`):

- a state the old linear chain can name gets its name there (`{0003, 0004}` is `0004`; the expand
  head `0004` with contract 0003 held back is `0002c`, whose registry 0004 only re-creates);
- any other state gets its expand-branch head, which no old release ships: their `migrate`
  refuses ("a newer orm-models migrated it") and their guard checks the columns, as designed.

A database no 2.5+ has migrated has only `alembic_version`; its row is read through the old
chain (`legacy_heads`): `0004` there means 0003 ran before it. When an old release migrates
after a new one (moving `alembic_version` along its chain), `database_heads` sees the row differ
from what `write_legacy` left and adds the revisions it names.
"""

from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

VERSION_TABLE = "alembic_heads"
"""Alembic's version table: one row per applied head (expand and contract)."""
LEGACY_TABLE = "alembic_version"
"""One row, in the terms of the linear chain releases up to 2.4 ship."""

LINEAR_CHAIN = ("0001", "0002", "0002a", "0002b", "0002c", "0003", "0004")
"""The revisions of releases 1.0.0-2.4.0, one chain, oldest first (0003 the contract)."""
_CONTRACT_IN_CHAIN = "0003"


def not_a_version_table(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic `include_name` hook: neither version table is part of the schema compared."""
    return not (type_ == "table" and name in (VERSION_TABLE, LEGACY_TABLE))


def legacy_heads(revision: str) -> frozenset[str]:
    """The heads of the two-branch tree for a revision of the old chain (else the revision).

    In the chain 0004 came after contract 0003; in the tree it follows 0002c on the expand branch.
    """
    if revision in LINEAR_CHAIN and LINEAR_CHAIN.index(revision) > LINEAR_CHAIN.index(_CONTRACT_IN_CHAIN):
        return frozenset({_CONTRACT_IN_CHAIN, revision})
    return frozenset({revision})


def legacy_name(heads: frozenset[str], scripts: ScriptDirectory) -> str | None:
    """The one revision id older releases should read for `heads` (see the module docstring)."""
    if not heads:
        return None
    for name in reversed(LINEAR_CHAIN):
        if legacy_heads(name) == heads:
            return name
    if heads == {"0004"}:  # expand head with contract 0003 held back: the chain called it 0002c
        return "0002c"
    expand = expand_position(heads, scripts)
    return expand or sorted(heads)[-1]


def _rows(connection: Connection, table: str) -> list[str] | None:
    if not inspect(connection).has_table(table):
        return None
    return [str(row[0]) for row in connection.execute(text(f"SELECT version_num FROM {table}"))]


def database_heads(connection: Connection, scripts: ScriptDirectory) -> frozenset[str]:
    """The revisions the database is at (its heads), reading both tables; changes nothing."""
    recorded = _rows(connection, VERSION_TABLE)
    legacy = _rows(connection, LEGACY_TABLE) or []
    old = legacy_heads(legacy[0]) if len(legacy) == 1 else frozenset()
    if recorded is None:
        return old
    heads = frozenset(recorded)
    if len(legacy) != 1 or legacy[0] == legacy_name(heads, scripts):
        return heads
    if legacy[0] in LINEAR_CHAIN:
        # An old release migrated after a new one: what it applied joins what the tree recorded.
        return reduce_heads(heads | old, scripts)
    if _script(scripts, legacy[0]) is None:  # a revision only a newer release knows: it is ahead
        return heads | {legacy[0]}
    return heads


def sync_version_table(connection: Connection, scripts: ScriptDirectory) -> None:
    """Before migrating: make VERSION_TABLE hold what `database_heads` reads."""
    heads = database_heads(connection, scripts)
    if _rows(connection, VERSION_TABLE) is None:
        connection.execute(
            text(
                f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
            )
        )
    elif frozenset(_rows(connection, VERSION_TABLE) or ()) == heads:
        return
    connection.execute(text(f"DELETE FROM {VERSION_TABLE}"))
    for head in sorted(heads):
        connection.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": head})


def write_legacy(connection: Connection, scripts: ScriptDirectory) -> None:
    """After migrating: the one row older releases read (none once downgraded to base)."""
    heads = frozenset(_rows(connection, VERSION_TABLE) or ())
    name = legacy_name(heads, scripts)
    if _rows(connection, LEGACY_TABLE) is None:
        if name is None:
            return
        connection.execute(
            text(
                f"CREATE TABLE {LEGACY_TABLE} (version_num VARCHAR(32) NOT NULL, "
                f"CONSTRAINT {LEGACY_TABLE}_pkc PRIMARY KEY (version_num))"
            )
        )
    connection.execute(text(f"DELETE FROM {LEGACY_TABLE}"))
    if name is not None:
        connection.execute(text(f"INSERT INTO {LEGACY_TABLE} (version_num) VALUES (:v)"), {"v": name})


def ancestors(revisions: frozenset[str] | set[str], scripts: ScriptDirectory) -> set[str]:
    """Every revision `revisions` need (inclusive): down revisions and `depends_on`, transitively."""
    found: set[str] = set()
    stack = list(revisions)
    while stack:
        revision = stack.pop()
        if revision in found:
            continue
        found.add(revision)
        script = _script(scripts, revision)
        if script is not None:
            stack.extend(script._all_down_revisions)  # down_revision plus resolved depends_on
    return found


def reduce_heads(revisions: frozenset[str], scripts: ScriptDirectory) -> frozenset[str]:
    """The revisions in `revisions` that no other one of them needs."""
    needed: set[str] = set()
    for revision in revisions:
        needed |= ancestors({revision}, scripts) - {revision}
    return frozenset(revisions - needed)


def expand_position(heads: frozenset[str], scripts: ScriptDirectory) -> str | None:
    """The newest applied expand revision: how far `orm-models migrate` has brought the database."""
    applied = ancestors(heads, scripts)
    expand = [r for r in applied if _phase(scripts, r) != "contract"]
    tips = reduce_heads(frozenset(expand), scripts)
    return max(tips, key=lambda r: len(ancestors({r}, scripts))) if tips else None


def _script(scripts: ScriptDirectory, revision: str) -> Script | None:
    """The revision's script, or None for one this tree does not ship (a newer release's)."""
    try:
        return scripts.get_revision(revision)
    except CommandError:
        return None


def _phase(scripts: ScriptDirectory, revision: str) -> str:
    script = _script(scripts, revision)
    return str(getattr(script.module, "phase", "expand")) if script is not None else "expand"
