"""What one difference between two manifests is: its kind, whom it breaks, the bump it needs."""

import enum
from dataclasses import dataclass, field


class Bump(enum.IntEnum):
    """A semantic-version bump; ordered, so the required bump is the `max` of all changes."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    def __str__(self) -> str:
        return self.name.lower()


class Impact(enum.StrEnum):
    """Who or what a change hurts. A change may have several impacts, or none."""

    READERS = "breaks old readers"
    """Services on the previous release read something that is gone or now means something else."""
    WRITERS = "breaks old writers"
    """Services on the previous release write rows the new schema rejects."""
    LOCKS = "locks or rewrites a table"
    """Applying it takes a lock that blocks traffic, or rewrites every row."""
    DATA_LOSS = "data loss"
    """Applying it destroys stored values."""
    CALLERS = "breaks Python callers"
    """Code importing the new release fails where it worked with the previous one."""


class Section(enum.StrEnum):
    """Keep a Changelog section a change is listed under."""

    ADDED = "Added"
    CHANGED = "Changed"
    REMOVED = "Removed"


@dataclass(frozen=True)
class Change:
    """One classified difference between a baseline and a current manifest.

    Attributes:
        kind: Rule name, e.g. `drop_column` (the rules are listed in docs/schema-versioning.md).
        subject: What changed: `table`, `table.column`, `table:constraint`, a class or API path.
        detail: One line for people, e.g. `VARCHAR(100) -> VARCHAR(50)`.
        bump: The minimum bump this change requires.
        impacts: Whom it breaks; empty for a purely additive change.
        section: Where the CHANGELOG lists it.
        route: The safe way to ship it, when there is one.
        table: The table it is about; None for a Python-only change.
        column: The column it is about, if any.
    """

    kind: str
    subject: str
    detail: str
    bump: Bump
    impacts: frozenset[Impact] = field(default_factory=frozenset)
    section: Section = Section.CHANGED
    route: str = ""
    table: str | None = None
    column: str | None = None
