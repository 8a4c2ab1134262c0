"""The classification rules: for each kind of change, whom it breaks and the bump it needs.

The reason behind every rule is written down in docs/schema-versioning.md; keep the two in step.
"""

from dataclasses import dataclass

from .changes import Bump, Change, Impact, Section

R, W, L, D, C = Impact.READERS, Impact.WRITERS, Impact.LOCKS, Impact.DATA_LOSS, Impact.CALLERS


@dataclass(frozen=True)
class Rule:
    """How one kind of change is classified."""

    bump: Bump
    impacts: frozenset[Impact]
    section: Section
    route: str = ""
    why: str = ""
    """Why the bump is what it is: who breaks and how (`orm-models check --explain KIND`)."""


def _rule(bump: Bump, section: Section, *impacts: Impact, route: str = "", why: str = "") -> Rule:
    return Rule(bump, frozenset(impacts), section, route, why)


_EXPAND_CONTRACT = "add the new name + dual-write + backfill (expand, minor), drop the old (contract, major)"
_CONTRACT_ONLY = "stop mapping it in a major release; drop it in a contract revision"
_NOT_VALID = "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT"
_DEPRECATE = "deprecate first, remove in a major release"
_TRIGGER_ROUTE = (
    "a rule on values is a CHECK (ADD CONSTRAINT ... NOT VALID, then VALIDATE); a trigger that must "
    "stay ships in a major release, its effect on old writers written down"
)
_NEW_COLUMN = "old writers cannot write a column they do not know, so they cannot violate it"

RULES: dict[str, Rule] = {
    # Tables
    "add_table": _rule(Bump.MINOR, Section.ADDED, why="nobody reads or writes it yet; a new feature"),
    "drop_table": _rule(
        Bump.MAJOR, Section.REMOVED, R, W, D, route=_CONTRACT_ONLY, why="every old client of it fails"
    ),
    "rename_table": _rule(
        Bump.MAJOR, Section.CHANGED, R, W, route=_EXPAND_CONTRACT, why="old clients use the old name"
    ),
    "change_table_options": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        L,
        route="a new table with the new storage, backfill, switch (expand/contract)",
        why="storage options (UNLOGGED, partitioning, inheritance, access method) change durability "
        "or what a statement may do; their effect is not judged, so they count as breaking",
    ),
    # Columns
    "add_column_nullable": _rule(
        Bump.MINOR, Section.ADDED, why="old writers omit it and get NULL; old readers never select it"
    ),
    "add_column_server_default": _rule(
        Bump.MINOR,
        Section.ADDED,
        why="the database fills it (default, identity or generated) for old writers",
    ),
    "add_column_not_null": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        route="add it nullable or with a server default, backfill, tighten in a later release",
        why="old writers' INSERTs fail with a NOT NULL violation (a Python default= runs in the new "
        "models only)",
    ),
    "drop_column": _rule(
        Bump.MAJOR, Section.REMOVED, R, W, D, route=_CONTRACT_ONLY, why="old clients select/insert it"
    ),
    "rename_column": _rule(
        Bump.MAJOR, Section.CHANGED, R, W, route=_EXPAND_CONTRACT, why="a rename is a drop for old clients"
    ),
    "widen_type": _rule(
        Bump.MINOR,
        Section.CHANGED,
        route="ALTER TYPE is metadata-only for VARCHAR/NUMERIC",
        why="every old value fits and means the same",
    ),
    "narrow_type": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        L,
        D,
        route="new column + backfill (expand), drop old (contract)",
        why="old writers' values no longer fit; existing rows may not convert",
    ),
    "change_type": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        L,
        D,
        route="new column + backfill (expand), drop old (contract)",
        why="old clients see and send values of another type",
    ),
    "change_collation": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        L,
        route="new column + backfill (expand), drop old (contract)",
        why="sort order and equality of text change under old readers; indexes on it are rebuilt",
    ),
    "enum_value_added": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        route="ship the value in a major release, or first a release whose readers map the column "
        "as a string, then add the value",
        why="an old reader mapping the column as an Enum raises on the new value (SQLAlchemy's "
        "LookupError) as soon as a new writer stores it - the same reason NOT NULL -> nullable is major",
    ),
    "enum_values_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        D,
        route="a new enum type + column, backfill (expand), drop the old (contract)",
        why="a value removed or renamed breaks old writers that send it and old rows holding it; a "
        "reordered value changes ORDER BY and comparisons for old readers",
    ),
    "enum_storage_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        L,
        why="native PostgreSQL enum <-> VARCHAR (+ CHECK) is a type change for every client",
    ),
    "enum_python_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route=_DEPRECATE,
        why="the Python enum class (what callers get back and pass in) or its string validation changed",
    ),
    "set_not_null": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        L,
        route="CHECK (col IS NOT NULL) NOT VALID, backfill, VALIDATE CONSTRAINT, then SET NOT NULL",
        why="old writers that leave it empty fail; SET NOT NULL scans under a lock",
    ),
    "drop_not_null": _rule(
        Bump.MAJOR, Section.CHANGED, R, why="old readers assume a value and may crash on None"
    ),
    # Equivalences: another spelling, the same effect on every old reader, writer and caller.
    "equivalent_server_default": _rule(
        Bump.NONE, Section.CHANGED, why="e.g. now() -> CURRENT_TIMESTAMP: an omitted value is the same"
    ),
    "equivalent_type": _rule(
        Bump.NONE, Section.CHANGED, why="TEXT <-> VARCHAR without a length: same storage, same values"
    ),
    "add_server_default": _rule(
        Bump.MINOR, Section.CHANGED, why="only fills what old writers omitted anyway"
    ),
    "change_server_default": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        route="keep the old default; let new writers send the new value explicitly",
        why="an old writer that omits the column now stores another value than the one it relied on",
    ),
    "drop_server_default": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        route="keep the server default",
        why="old writers relying on it fail with a NOT NULL violation",
    ),
    "drop_server_default_nullable": _rule(
        Bump.MINOR, Section.CHANGED, why="omitted values become NULL, which old readers already handle"
    ),
    "python_default_added": _rule(
        Bump.MINOR, Section.CHANGED, why="callers may now omit a value they had to pass; old calls still work"
    ),
    "python_default_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route="keep the old default; add a new attribute or a factory for the new behaviour",
        why="code that omits the value gets another one after upgrading (a Python default= is API of "
        "the models, like a parameter default)",
    ),
    "python_default_removed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route=_DEPRECATE,
        why="code that omits the value now stores NULL or fails the NOT NULL constraint",
    ),
    "add_identity": _rule(
        Bump.MINOR, Section.CHANGED, why="writers that omit the key now get one from the database"
    ),
    "drop_identity": _rule(
        Bump.MAJOR, Section.CHANGED, W, why="writers that omit the key need the database to generate it"
    ),
    "change_identity": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        why="GENERATED ALWAYS rejects old writers' explicit values; a new increment, bound or CYCLE "
        "changes which keys old writers get, or lets them run out or repeat",
    ),
    "tune_identity": _rule(
        Bump.PATCH,
        Section.CHANGED,
        why="START and CACHE only shape future values' spacing; ALWAYS -> BY DEFAULT only accepts more",
    ),
    "add_computed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        D,
        route="a new generated column beside the old one",
        why="old writers that write the column fail: a generated column cannot be written",
    ),
    "change_computed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        L,
        route="a new generated column beside the old one",
        why="old readers see other values for the same column; the table is rewritten",
    ),
    "drop_computed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        why="old readers expect the database to keep the value in step; nobody writes it now",
    ),
    "change_primary_key": _rule(
        Bump.MAJOR, Section.CHANGED, R, W, L, route="new table", why="identity of rows and upserts change"
    ),
    "change_column_options": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        R,
        W,
        why="a dialect option of the column changed; its effect is not judged, so it counts as breaking",
    ),
    "change_comment": _rule(
        Bump.PATCH,
        Section.CHANGED,
        why="a comment (or the note of which clients name a constraint) is documentation: no client "
        "behaves differently",
    ),
    # Sequences
    "add_sequence": _rule(Bump.MINOR, Section.ADDED, why="nobody calls it yet"),
    "drop_sequence": _rule(
        Bump.MAJOR, Section.REMOVED, W, route=_CONTRACT_ONLY, why="old writers' nextval() fails"
    ),
    "change_sequence": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        why="a new increment, data type, bound or CYCLE changes which values old writers get, or lets "
        "them run out or repeat",
    ),
    "tune_sequence": _rule(
        Bump.PATCH, Section.CHANGED, why="START and CACHE do not change a running sequence's values' meaning"
    ),
    # Constraints and indexes
    "add_unique": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        L,
        route="CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX",
        why="old writers may insert duplicates that now fail; building it locks",
    ),
    "add_unique_on_new_column": _rule(
        Bump.MINOR,
        Section.ADDED,
        why=f"{_NEW_COLUMN}: they leave it NULL, and NULLs are distinct (not with NULLS NOT DISTINCT "
        "or a server default: then it stays major)",
    ),
    "drop_unique": _rule(
        Bump.MAJOR,
        Section.REMOVED,
        R,
        W,
        route="keep it until no client upserts on it",
        why="upserts (ON CONFLICT) of old writers need it; readers may see duplicates",
    ),
    "add_foreign_key": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        L,
        route=_NOT_VALID,
        why="old writers' rows may violate it; validation scans under a lock",
    ),
    "add_foreign_key_on_new_column": _rule(
        Bump.MINOR,
        Section.ADDED,
        why=f"{_NEW_COLUMN}, and its ON DELETE (CASCADE, or SET NULL on nullable columns) never "
        "blocks an old writer's DELETE of the referenced rows",
    ),
    "add_foreign_key_restricts_referenced": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        route="ondelete='CASCADE' or 'SET NULL' (nullable), or ship it in a major release",
        why="wherever it is declared, once a new writer points a row at a referenced row, an old "
        "writer's DELETE (or key UPDATE) of that row fails: NO ACTION/RESTRICT, SET NULL on a NOT "
        "NULL column, SET DEFAULT",
    ),
    "drop_foreign_key": _rule(Bump.MINOR, Section.REMOVED, why="relaxes what writers may do"),
    "add_check": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        L,
        route=_NOT_VALID,
        why="old writers' rows may violate it; validation scans under a lock",
    ),
    "add_check_on_new_column": _rule(
        Bump.MINOR,
        Section.ADDED,
        why=f"it names only new columns: {_NEW_COLUMN} (a CHECK that mentions NULL stays major: "
        "the NULL they leave may be what it rejects)",
    ),
    "drop_check": _rule(Bump.MINOR, Section.REMOVED, why="relaxes what writers may do"),
    "change_constraint": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        L,
        route="add the new constraint NOT VALID, VALIDATE, drop the old",
        why="it is a drop and an add (deferral, ON DELETE, unique index options included)",
    ),
    "rename_constraint": _rule(
        Bump.PATCH,
        Section.CHANGED,
        why="same definition under a new name (e.g. a naming-convention change): no client in this "
        "repository names a constraint (loader-service upserts with UPDATE ... FROM + INSERT ... "
        "WHERE NOT EXISTS); mark one that a client names with info={'referenced_by_name': 'who'}",
    ),
    "rename_referenced": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        route="keep the old name",
        why="a client names it (ON CONFLICT ON CONSTRAINT, error handling on the constraint name): "
        "the rename breaks that client",
    ),
    "add_index": _rule(
        Bump.PATCH,
        Section.ADDED,
        route="CREATE INDEX CONCURRENTLY",
        why="invisible to clients (performance only)",
    ),
    "drop_index": _rule(
        Bump.PATCH,
        Section.REMOVED,
        route="DROP INDEX CONCURRENTLY",
        why="invisible to clients (performance only)",
    ),
    "change_index": _rule(
        Bump.PATCH,
        Section.CHANGED,
        route="CREATE the new INDEX CONCURRENTLY, then DROP the old",
        why="a non-unique index's columns, expressions, WHERE, USING, opclasses or INCLUDE only change speed",
    ),
    # Mapped classes (the ORM side of the same tables)
    "class_added": _rule(Bump.MINOR, Section.ADDED, why="new Python API"),
    "class_removed": _rule(Bump.MAJOR, Section.REMOVED, C, route=_DEPRECATE, why="code using it fails"),
    "attribute_added": _rule(Bump.MINOR, Section.ADDED, why="new Python API"),
    "attribute_removed": _rule(
        Bump.MAJOR, Section.REMOVED, C, route="deprecate first", why="code using `Person.x` fails"
    ),
    "attribute_renamed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route="map both names (synonym), drop the old later",
        why="the column is unchanged, so old services are fine, but code written against the old "
        "name breaks on upgrade",
    ),
    "attribute_remapped": _rule(Bump.MAJOR, Section.CHANGED, R, W, C, why="same Python name, different data"),
    "attribute_loading_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route="leave the default loading; let callers ask for deferral with options()",
        why="a deferred or raiseload attribute raises (or runs SQL) where callers read it on a "
        "detached or loaded object",
    ),
    "attribute_tuning_changed": _rule(
        Bump.PATCH,
        Section.CHANGED,
        why="active_history, expire_on_flush and server_onupdate change when the ORM re-reads a "
        "value, not what callers get",
    ),
    "relationship_added": _rule(Bump.MINOR, Section.ADDED, why="new Python API"),
    "relationship_removed": _rule(
        Bump.MAJOR, Section.REMOVED, C, route=_DEPRECATE, why="code navigating it fails"
    ),
    "relationship_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route="add a new relationship with the new options; keep the old one",
        why="target, uselist, collection class, cascade, viewonly, order, join, back_populates removal "
        "or lazy='raise'/'noload'/'dynamic' change what callers get or what a flush does",
    ),
    "relationship_extended": _rule(
        Bump.MINOR, Section.CHANGED, why="back_populates added: the other side now stays in step in memory"
    ),
    "relationship_loading": _rule(
        Bump.PATCH,
        Section.CHANGED,
        why="select/joined/selectin/subquery/immediate load the same objects; only when SQL runs changes",
    ),
    "mapper_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        C,
        why="inheritance, polymorphism, version counter or flush options change what old and new "
        "writers must agree on",
    ),
    # Migrations: a revision with no model change (data fix, trigger) still ships something new.
    "revision_added": _rule(
        Bump.PATCH,
        Section.ADDED,
        why="clients see no new table, column or API, but the wheel ships a revision the last release "
        "lacked (what it does to the database is diffed from a migrated database)",
    ),
    # Triggers (the migrated databases only: models cannot declare them)
    "add_trigger": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        route=_TRIGGER_ROUTE,
        why="its function may reject or rewrite old writers' rows (a BEFORE trigger raising on a "
        "value they send); what it does is code the check cannot judge, so a person decides",
    ),
    "add_trigger_new_table": _rule(
        Bump.MINOR, Section.ADDED, why="it is on a table new in this release: no old writer writes it"
    ),
    "add_rename_sync_trigger": _rule(
        Bump.MINOR,
        Section.ADDED,
        why="the sync trigger of a rename's expand (`orm-models revision --rename`): it copies a write "
        "to either name into the other, so old writers' values are kept and old readers read them",
    ),
    "change_trigger": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        route=_TRIGGER_ROUTE,
        why="a new timing, event, WHEN or function body may reject or rewrite old writers' rows; a "
        "person decides",
    ),
    "drop_trigger": _rule(
        Bump.MAJOR,
        Section.REMOVED,
        W,
        route="drop it in a contract revision, once no client relies on what it did",
        why="old writers may rely on what it did (a bridge keeping two names in step, a derived "
        "value); a person decides",
    ),
    # Python API (griffe)
    "api_added": _rule(Bump.MINOR, Section.ADDED, why="new API"),
    "api_removed": _rule(Bump.MAJOR, Section.REMOVED, C, route=_DEPRECATE, why="imports and calls fail"),
    "api_changed": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        C,
        route="add an optional parameter instead",
        why="a call the old signature accepted fails or means something else (parameter kind, "
        "default, annotation, return annotation, enum value, re-export target)",
    ),
    "api_extended": _rule(
        Bump.MINOR, Section.CHANGED, why="every old call still works (new optional parameter, new base)"
    ),
}


def explain(kind: str) -> str:
    """The rule for `kind` for people: bump, who breaks, why, and the safe route.

    Raises:
        ValueError: `kind` is not a rule.
    """
    rule = RULES.get(kind)
    if rule is None:
        raise ValueError(f"no rule {kind!r}; rules: {', '.join(sorted(RULES))}")
    impacts = ", ".join(sorted(str(i) for i in rule.impacts)) or "nobody"
    lines = [f"{kind}: {rule.bump} ({rule.section})", f"  breaks: {impacts}", f"  why: {rule.why}"]
    lines.append(f"  safe route: {rule.route or '-'}")
    return "\n".join(lines)


def classify(
    kind: str,
    subject: str,
    detail: str,
    *,
    table: str | None = None,
    column: str | None = None,
    also: frozenset[Impact] = frozenset(),
) -> Change:
    """Build the `Change` for `kind` as its rule says.

    Args:
        kind: A key of `RULES`.
        subject: What changed, as people read it (`person.email`).
        detail: One line saying how it changed.
        table: The table it is about, for migration attribution.
        column: The column it is about, if any.
        also: Impacts on top of the rule's, e.g. a type widening that still rewrites the table.
    """
    rule = RULES[kind]
    return Change(
        kind=kind,
        subject=subject,
        detail=detail,
        bump=rule.bump,
        impacts=rule.impacts | also,
        section=rule.section,
        route=rule.route,
        table=table,
        column=column,
    )
