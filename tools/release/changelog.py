"""Turn `## [Unreleased]` of CHANGELOG.md (Keep a Changelog) into a dated release section."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tools.release import ReleaseError

UNRELEASED = "## [Unreleased]"
_FENCE = re.compile(r"^\s*(```|~~~)")
_CHANGE_TYPE = re.compile(r"^###\s+(.+?)\s*$")
EMPTY_NOTE = "_No user-visible changes were recorded for this release._"
# Keep a Changelog's change types, in its order; others follow in the order they appear.
CHANGE_TYPES = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def _outside_fences(text: str) -> Iterator[tuple[int, str, bool]]:
    """(offset, line, is_markup) for each line; headings inside ``` or ~~~ blocks are not markup."""
    offset, fenced = 0, False
    for line in text.splitlines(keepends=True):
        is_fence = _FENCE.match(line) is not None
        fenced ^= is_fence
        yield offset, line, not fenced and not is_fence
        offset += len(line)


def _next_section(text: str, start: int) -> int:
    """Where the next `## ` heading after `start` begins (end of text when none)."""
    for offset, line, is_markup in _outside_fences(text):
        if offset >= start and is_markup and line.startswith("## "):
            return offset
    return len(text)


def _by_change_type(body: str) -> tuple[str, dict[str, str]]:
    """Split a section body into its free text and its `### Type` blocks (type -> entries).

    `### added:` and `### Added` are one type; a `###` line inside a code block is text.
    """
    preamble: list[str] = []
    blocks: dict[str, list[str]] = {}
    current = preamble
    for _, line, is_markup in _outside_fences(body):
        heading = _CHANGE_TYPE.match(line) if is_markup else None
        if heading is None:
            current.append(line)
            continue
        name = heading.group(1).strip(" :")
        current = blocks.setdefault(name[:1].upper() + name[1:].lower(), [])
    return "".join(preamble).strip(), {kind: "".join(lines).strip() for kind, lines in blocks.items()}


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
    body_end = _next_section(text, body_start)
    written = text[body_start:body_end].strip()
    body = merge_sections(generated, written) or EMPTY_NOTE
    section = f"{UNRELEASED}\n\n## [{version}] - {date}\n\n{body}\n"
    rest = text[body_end:]
    return text[:start] + section + ("\n" + rest if rest else "")
