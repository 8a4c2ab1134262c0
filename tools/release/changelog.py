"""Turn `## [Unreleased]` of CHANGELOG.md (Keep a Changelog) into a dated release section."""

from __future__ import annotations

import re

from tools.release import ReleaseError

UNRELEASED = "## [Unreleased]"
_NEXT_SECTION = re.compile(r"^## ", re.MULTILINE)
EMPTY_NOTE = "_No user-visible changes were recorded for this release._"


def add_release(text: str, version: str, date: str, generated: str = "") -> str:
    """Return `text` with a `## [version] - date` section right under an emptied Unreleased.

    The section holds `generated` (entries computed from the schema diff) followed by whatever
    humans wrote under Unreleased; with neither, a one-line note, so no release is silent.
    """
    if f"## [{version}]" in text:
        raise ReleaseError(f"CHANGELOG.md already has a section for {version}")
    start = text.find(UNRELEASED)
    if start < 0:
        raise ReleaseError(f"CHANGELOG.md has no `{UNRELEASED}` heading")
    body_start = start + len(UNRELEASED)
    following = _NEXT_SECTION.search(text, body_start)
    body_end = following.start() if following else len(text)
    written = text[body_start:body_end].strip()
    body = "\n\n".join(part for part in (generated.strip(), written) if part) or EMPTY_NOTE
    section = f"{UNRELEASED}\n\n## [{version}] - {date}\n\n{body}\n"
    rest = text[body_end:]
    return text[:start] + section + ("\n" + rest if rest else "")
