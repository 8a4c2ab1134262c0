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


def _rule(bump: Bump, section: Section, *impacts: Impact, route: str = "") -> Rule:
    return Rule(bump, frozenset(impacts), section, route)


_EXPAND_CONTRACT = "add the new name + dual-write + backfill (expand, minor), drop the old (contract, major)"
_CONTRACT_ONLY = "stop mapping it in a major release; drop it in a contract revision"

RULES: dict[str, Rule] = {
    # Tables
    "add_table": _rule(Bump.MINOR, Section.ADDED),
    "drop_table": _rule(Bump.MAJOR, Section.REMOVED, R, W, D, route=_CONTRACT_ONLY),
    "rename_table": _rule(Bump.MAJOR, Section.CHANGED, R, W, route=_EXPAND_CONTRACT),
    # Columns
    "add_column_nullable": _rule(Bump.MINOR, Section.ADDED),
    "add_column_server_default": _rule(Bump.MINOR, Section.ADDED),
    "add_column_not_null": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        route="add it nullable or with a server default, backfill, tighten in a later release",
    ),
    "drop_column": _rule(Bump.MAJOR, Section.REMOVED, R, W, D, route=_CONTRACT_ONLY),
    "rename_column": _rule(Bump.MAJOR, Section.CHANGED, R, W, route=_EXPAND_CONTRACT),
    "widen_type": _rule(Bump.MINOR, Section.CHANGED, route="ALTER TYPE is metadata-only for VARCHAR/NUMERIC"),
    "narrow_type": _rule(
        Bump.MAJOR, Section.CHANGED, R, W, L, D, route="new column + backfill (expand), drop old (contract)"
    ),
    "change_type": _rule(
        Bump.MAJOR, Section.CHANGED, R, W, L, D, route="new column + backfill (expand), drop old (contract)"
    ),
    "set_not_null": _rule(
        Bump.MAJOR,
        Section.CHANGED,
        W,
        L,
        route="CHECK (col IS NOT NULL) NOT VALID, backfill, VALIDATE CONSTRAINT, then SET NOT NULL",
    ),
    "drop_not_null": _rule(Bump.MAJOR, Section.CHANGED, R),
    "add_server_default": _rule(Bump.MINOR, Section.CHANGED),
    "drop_server_default": _rule(Bump.MAJOR, Section.CHANGED, W, route="keep the server default"),
    "drop_server_default_nullable": _rule(Bump.MINOR, Section.CHANGED),
    "add_identity": _rule(Bump.MINOR, Section.CHANGED),
    "drop_identity": _rule(Bump.MAJOR, Section.CHANGED, W),
    "change_primary_key": _rule(Bump.MAJOR, Section.CHANGED, R, W, L),
    # Constraints and indexes
    "add_unique": _rule(
        Bump.MAJOR,
        Section.ADDED,
        W,
        L,
        route="CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX",
    ),
    "drop_unique": _rule(Bump.MAJOR, Section.REMOVED, R, W, route="keep it until no client upserts on it"),
    "add_foreign_key": _rule(
        Bump.MAJOR, Section.ADDED, W, L, route="ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT"
    ),
    "drop_foreign_key": _rule(Bump.MINOR, Section.REMOVED),
    "add_check": _rule(
        Bump.MAJOR, Section.ADDED, W, L, route="ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT"
    ),
    "drop_check": _rule(Bump.MINOR, Section.REMOVED),
    "change_constraint": _rule(
        Bump.MAJOR, Section.CHANGED, W, L, route="add the new constraint NOT VALID, VALIDATE, drop the old"
    ),
    "add_index": _rule(Bump.PATCH, Section.ADDED, route="CREATE INDEX CONCURRENTLY"),
    "drop_index": _rule(Bump.PATCH, Section.REMOVED, route="DROP INDEX CONCURRENTLY"),
    "change_index": _rule(
        Bump.PATCH, Section.CHANGED, route="CREATE the new INDEX CONCURRENTLY, then DROP the old"
    ),
    # Mapped classes (the ORM side of the same tables)
    "class_added": _rule(Bump.MINOR, Section.ADDED),
    "class_removed": _rule(
        Bump.MAJOR, Section.REMOVED, C, route="deprecate first, remove in a major release"
    ),
    "attribute_added": _rule(Bump.MINOR, Section.ADDED),
    "attribute_removed": _rule(Bump.MAJOR, Section.REMOVED, C, route="deprecate first"),
    "attribute_renamed": _rule(
        Bump.MAJOR, Section.CHANGED, C, route="map both names (synonym), drop the old later"
    ),
    "attribute_remapped": _rule(Bump.MAJOR, Section.CHANGED, R, W, C),
    # Migrations: a revision with no model change (data fix, trigger) still ships something new.
    "revision_added": _rule(Bump.PATCH, Section.ADDED),
    # Python API (griffe)
    "api_added": _rule(Bump.MINOR, Section.ADDED),
    "api_removed": _rule(Bump.MAJOR, Section.REMOVED, C, route="deprecate first, remove in a major release"),
    "api_changed": _rule(Bump.MAJOR, Section.CHANGED, C, route="add an optional parameter instead"),
    "api_extended": _rule(Bump.MINOR, Section.CHANGED),
}


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
