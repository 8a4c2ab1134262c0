"""What a distribution file name says: project and version, parsed by `packaging` (PEP 427/625)."""

from __future__ import annotations

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

# `packaging` parses `.tar.gz` only (PEP 625); older sdists and pypiserver also know `.zip`.
_LEGACY_SDIST = (".zip",)


def dist_key(filename: str) -> tuple[str, str] | None:
    """(normalized project name, normalized version) of a wheel or sdist file name, else None.

    `2.1.0` and `2.1` are one version, and a wheel's build tag does not make another one.
    """
    parsed = parse_dist(filename)
    return None if parsed is None else (parsed[0], canonicalize_version(parsed[1]))


def parse_dist(filename: str) -> tuple[NormalizedName, Version] | None:
    """(normalized project name, version) of a wheel or sdist file name, else None."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith(_LEGACY_SDIST):
            name, version = parse_sdist_filename(filename.removesuffix(".zip") + ".tar.gz")
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return canonicalize_name(name), version
