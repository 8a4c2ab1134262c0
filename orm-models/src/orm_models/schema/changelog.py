"""The CHANGELOG section of a release, generated from the diff (people add prose on top)."""

import re
from pathlib import Path

from .changes import Bump, Change, Section

_ORDER = (Section.ADDED, Section.CHANGED, Section.REMOVED)


def _entry(change: Change) -> str:
    breaking = "**Breaking:** " if change.impacts else ""
    what = {
        "add_table": "table",
        "drop_table": "table",
        "rename_table": "table",
    }.get(change.kind, "column" if change.column and ":" not in change.subject else "")
    subject = f"{what} `{change.subject}`" if what else f"`{change.subject}`"
    label = change.kind.replace("_", " ")
    return f"- {breaking}{subject}: {label} ({change.detail})."


def render_section(version: str, date: str, changes: list[Change]) -> str:
    """A Keep a Changelog section for `version`: Added / Changed / Removed, naming tables and columns.

    One line per change; the API additions of a new module are listed once, as the module.
    """
    lines = [f"## [{version}] - {date}"]
    for section in _ORDER:
        # An equivalence (bump none) is no change for anyone reading the changelog.
        entries = [_entry(c) for c in changes if c.section is section and c.bump is not Bump.NONE]
        if entries:
            lines += ["", f"### {section}", *entries]
    if len(lines) == 1:
        lines += ["", "No schema or API changes."]
    return "\n".join(lines) + "\n"


def insert_section(changelog: Path, section: str) -> bool:
    """Insert `section` under `## [Unreleased]`'s notes, before the previous release.

    Returns:
        False when that version already has a section (re-running a release changes nothing).

    Raises:
        ValueError: The file has no `## [Unreleased]` heading.
    """
    text = changelog.read_text(encoding="utf-8")
    heading = section.splitlines()[0].split(" - ")[0]
    if re.search(rf"^{re.escape(heading)}( |$)", text, re.MULTILINE):
        return False
    unreleased = re.search(r"^## \[Unreleased\].*$", text, re.MULTILINE)
    if unreleased is None:
        raise ValueError(f"{changelog}: no '## [Unreleased]' heading")
    following = re.search(r"^## \[", text[unreleased.end() :], re.MULTILINE)
    at = unreleased.end() + following.start() if following else len(text)
    head = text[:at].rstrip("\n") + "\n\n"
    changelog.write_text(head + section + ("\n" + text[at:] if following else ""), encoding="utf-8")
    return True
