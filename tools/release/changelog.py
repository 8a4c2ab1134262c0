"""Turn `## [Unreleased]` of CHANGELOG.md (Keep a Changelog) into a dated release section."""

from __future__ import annotations

import re

from tools.release import ReleaseError

UNRELEASED = "## [Unreleased]"
_NEXT_SECTION = re.compile(r"^## ", re.MULTILINE)
_CHANGE_TYPE = re.compile(r"^### +(.+?)\s*$", re.MULTILINE)
EMPTY_NOTE = "_No user-visible changes were recorded for this release._"
# Keep a Changelog's change types, in its order; others follow in the order they appear.
CHANGE_TYPES = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def _by_change_type(body: str) -> tuple[str, dict[str, str]]:
    """Split a section body into its free text and its `### Type` blocks (type -> entries)."""
    parts = _CHANGE_TYPE.split(body)
    blocks: dict[str, str] = {}
    for change_type, entries in zip(parts[1::2], parts[2::2], strict=True):
        blocks[change_type] = "\n".join(b for b in (blocks.get(change_type, ""), entries.strip()) if b)
    return parts[0].strip(), blocks


def merge_sections(*bodies: str) -> str:
    """One section body from several, with each change type once (`### Added` ... `### Security`)."""
    preambles: list[str] = []
    merged: dict[str, str] = {}
    for body in bodies:
        preamble, blocks = _by_change_type(body)
        preambles.append(preamble)
        for change_type, entries in blocks.items():
            merged[change_type] = "\n".join(e for e in (merged.get(change_type, ""), entries) if e)
    order = [t for t in CHANGE_TYPES if t in merged] + [t for t in merged if t not in CHANGE_TYPES]
    parts = [p for p in preambles if p] + [f"### {t}\n{merged[t]}" for t in order if merged[t]]
    return "\n\n".join(parts)


def add_release(text: str, version: str, date: str, generated: str = "") -> str:
    """Return `text` with a `## [version] - date` section right under an emptied Unreleased.

    The section holds `generated` (entries computed from the schema diff) and whatever humans
    wrote under Unreleased, merged by change type (the generated entries first under each); with
    neither, a one-line note, so no release is silent.
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
    body = merge_sections(generated, written) or EMPTY_NOTE
    section = f"{UNRELEASED}\n\n## [{version}] - {date}\n\n{body}\n"
    rest = text[body_end:]
    return text[:start] + section + ("\n" + rest if rest else "")
