"""Landmarks of the released history, read from `releases.toml` and the tree, never written out.

A test that needs "the database a 1.1.0 client uses" or "the contract 2.0 held back" asks here:
the next release appends to `releases.toml` and to the revisions, and these answers still hold.
"""

import tomllib
from pathlib import Path

from orm_models.migrate import pending_revisions

_RELEASES_TOML = Path(__file__).resolve().parents[1] / "releases.toml"
_RELEASES = tomllib.loads(_RELEASES_TOML.read_text("utf-8"))["release"]


def release_head(version: str) -> str:
    """The Alembic head release `version` shipped (what its `migrate` leaves a database at)."""
    [head] = [str(r["migration_head"]) for r in _RELEASES if r["version"] == version]
    return head


LAST_1X_HEAD = [str(r["migration_head"]) for r in _RELEASES if str(r["version"]).startswith("1.")][-1]
"""The schema the last 1.x release leaves: its clients still map what 2.0's contract drops."""

FIRST_CONTRACT = next(
    s.revision for s in pending_revisions(LAST_1X_HEAD) if getattr(s.module, "phase", "expand") == "contract"
)
"""The first contract revision a database at `LAST_1X_HEAD` is held back from (2.0's drop)."""
