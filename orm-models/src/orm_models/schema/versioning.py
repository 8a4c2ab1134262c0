"""Semantic versions: the version a bump leads to, and whether a project's version is enough."""

import re
from dataclasses import dataclass

from .changes import Bump, Change

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[.+-]?[0-9A-Za-z.+-]*)?$")


def parse_version(text: str) -> tuple[int, int, int]:
    """The release triple of `X.Y.Z` (a pre-release or local suffix is ignored).

    Raises:
        ValueError: `text` does not start with `X.Y.Z`.
    """
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not a semantic version: {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def bumped(version: str, bump: Bump) -> str:
    """The smallest version after `version` that carries `bump` (`version` itself for NONE)."""
    major, minor, patch = parse_version(version)
    if bump is Bump.MAJOR:
        return f"{major + 1}.0.0"
    if bump is Bump.MINOR:
        return f"{major}.{minor + 1}.0"
    if bump is Bump.PATCH:
        return f"{major}.{minor}.{patch + 1}"
    return f"{major}.{minor}.{patch}"


def bump_between(old: str, new: str) -> Bump:
    """The bump that `new` carries over `old` (NONE when equal or lower)."""
    before, after = parse_version(old), parse_version(new)
    if after[0] > before[0]:
        return Bump.MAJOR
    if after[:2] > before[:2]:
        return Bump.MINOR
    if after > before:
        return Bump.PATCH
    return Bump.NONE


@dataclass(frozen=True)
class Verdict:
    """The outcome of the version gate.

    Attributes:
        baseline_version: Version of the last release.
        version: The version being checked (the project's, or one proposed).
        required: The largest bump any change needs.
        minimum_version: The smallest version that satisfies `required`.
        ok: `version` is at least `minimum_version`, or `pending`.
        pending: Unreleased work on a version not bumped yet (`version` is the baseline's): no
            conflict, the next release must carry `required` (`nox -s release` checks the
            version it bumps to, so a too-small release is still refused).
    """

    baseline_version: str
    version: str
    required: Bump
    minimum_version: str
    ok: bool
    pending: bool = False


def verdict(baseline_version: str, version: str, changes: list[Change]) -> Verdict:
    """Derive the required bump from `changes` and judge `version` against it."""
    required = max((change.bump for change in changes), default=Bump.NONE)
    minimum = bumped(baseline_version, required)
    enough = parse_version(version) >= parse_version(minimum)
    pending = not enough and parse_version(version) == parse_version(baseline_version)
    return Verdict(baseline_version, version, required, minimum, enough or pending, pending)
