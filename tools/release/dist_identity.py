"""What a distribution file *is*: project and version from its own metadata, checked against its name.

Installers pick files by what the file name says (pip and uv read `orm__models-2.2.1-1-...whl`
as orm-models 2.2.1, and prefer it for its build tag); the file's metadata is what gets installed.
The index judges an upload by both, and refuses a file whose two stories differ, or whose name
is not the one canonical spelling of its identity, so one (project, version) has exactly one
wheel name and one sdist name that can ever be accepted.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass, field

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

WHEEL, SDIST = ".whl", ".tar.gz"
ACCEPTED_SUFFIXES = (WHEEL, SDIST)
"""PEP 427 wheels and PEP 625 sdists only: `.zip`, `.tgz`, `.tar.bz2`, `.egg`... are refused."""
_WHEEL_METADATA = re.compile(r"^[^/]+\.dist-info/METADATA$")
_SDIST_PKG_INFO = re.compile(r"^[^/]+/PKG-INFO$")


class RefusedDistributionError(ValueError):
    """A file the index will not hold; the message is one line that says why."""


@dataclass(frozen=True)
class Identity:
    """A distribution file as its metadata describes it (its name agreed, or it was refused)."""

    project: NormalizedName
    version: Version
    kind: str
    """WHEEL or SDIST."""
    requirements: tuple[str, ...]
    """Requires-Python and Requires-Dist, sorted: what an installer resolves from this file."""
    modules: dict[str, str] = field(repr=False)
    """Each Python source file (path inside the archive, sdist's top directory dropped) -> sha256."""


def canonical_filename(project: str, version: Version, kind: str) -> str:
    """The one file name the index accepts for (project, version, kind): PEP 427 / PEP 625 spelling."""
    stem = f"{canonicalize_name(project).replace('-', '_')}-{version}"
    return f"{stem}-py3-none-any.whl" if kind == WHEEL else f"{stem}{SDIST}"


def identify(filename: str, data: bytes) -> Identity:
    """Parse `filename` and the metadata inside `data`; RefusedDistributionError unless they agree exactly."""
    kind = next((suffix for suffix in ACCEPTED_SUFFIXES if filename.endswith(suffix)), None)
    if kind is None:
        raise RefusedDistributionError(
            f"refused {filename}: only wheels (.whl) and sdists (.tar.gz) are accepted"
        )
    try:
        if kind == WHEEL:
            name, version, build_tag, _ = parse_wheel_filename(filename)
            if build_tag:
                raise RefusedDistributionError(
                    f"refused {filename}: a build tag exists to supersede a published file; "
                    "published versions are immutable, release a new version"
                )
            spelt_name, spelt_version = filename.split("-")[:2]
        else:
            name, version = parse_sdist_filename(filename)
            spelt_name, _, spelt_version = filename.removesuffix(SDIST).rpartition("-")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as error:
        raise RefusedDistributionError(
            f"refused {filename}: not a valid distribution file name ({error})"
        ) from None
    if version.local is not None:
        raise RefusedDistributionError(
            f"refused {filename}: local versions (+{version.local}) are never published "
            f"(`=={version.public}` would install them)"
        )
    canonical_name = canonicalize_name(name).replace("-", "_")
    if spelt_name != canonical_name or spelt_version != str(version):
        raise RefusedDistributionError(
            f"refused {filename}: the name must be spelt {canonical_name}-{version}..., the canonical form"
        )
    metadata, modules = _read_archive(filename, data, kind)
    raw, _ = parse_email(metadata)
    meta_name, meta_version = raw.get("name"), raw.get("version")
    if not meta_name or not meta_version:
        raise RefusedDistributionError(f"refused {filename}: its metadata has no Name or Version")
    try:
        parsed_meta_version = Version(meta_version)
    except InvalidVersion:
        raise RefusedDistributionError(
            f"refused {filename}: its metadata's version {meta_version!r} is invalid"
        ) from None
    if canonicalize_name(meta_name) != canonicalize_name(name) or parsed_meta_version != version:
        raise RefusedDistributionError(
            f"refused {filename}: its metadata says {meta_name} {meta_version}, "
            f"its name says {name} {version}"
        )
    if str(parsed_meta_version) != str(version):
        raise RefusedDistributionError(
            f"refused {filename}: its metadata spells the version {meta_version!r}, its name {str(version)!r}"
        )
    requirements = [f"Requires-Python: {raw['requires_python']}"] if raw.get("requires_python") else []
    requirements += [f"Requires-Dist: {req}" for req in raw.get("requires_dist", [])]
    return Identity(canonicalize_name(name), version, kind, tuple(sorted(requirements)), modules)


def _read_archive(filename: str, data: bytes, kind: str) -> tuple[bytes, dict[str, str]]:
    """(the core metadata file, Python sources -> sha256) of a wheel (zip) or an sdist (tar.gz)."""
    try:
        if kind == WHEEL:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
                found = [n for n in names if _WHEEL_METADATA.match(n)]
                if len(found) != 1:
                    raise RefusedDistributionError(
                        f"refused {filename}: {len(found)} .dist-info/METADATA files, not 1"
                    )
                modules = {
                    n: hashlib.sha256(archive.read(n)).hexdigest()
                    for n in names
                    if n.endswith(".py") and ".dist-info/" not in n
                }
                return archive.read(found[0]), modules
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = [m for m in archive.getmembers() if m.isfile()]
            pkg_infos = [m for m in members if _SDIST_PKG_INFO.match(m.name)]
            if len(pkg_infos) != 1:
                raise RefusedDistributionError(
                    f"refused {filename}: {len(pkg_infos)} top-level PKG-INFO files, not 1"
                )
            modules = {}
            for member in members:
                if member.name.endswith(".py"):
                    extracted = archive.extractfile(member)
                    assert extracted is not None  # a regular file
                    modules[member.name.partition("/")[2]] = hashlib.sha256(extracted.read()).hexdigest()
            pkg_info = archive.extractfile(pkg_infos[0])
            assert pkg_info is not None
            return pkg_info.read(), modules
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as error:
        raise RefusedDistributionError(f"refused {filename}: not a readable archive ({error})") from None


def same_release(first: Identity, second: Identity) -> str | None:
    """Why `second` is not the other half of `first`'s release (a wheel and its sdist), or None.

    The same release: the other kind, the same requirements, and every Python module the wheel
    installs byte for byte in the sdist (under any directory: `src/` layouts included).
    """
    if first.kind == second.kind:
        return f"a {second.kind} of this version is already published"
    if first.requirements != second.requirements:
        return "its requirements differ from the published file's"
    wheel, sdist = (first, second) if first.kind == WHEEL else (second, first)
    for path, digest in wheel.modules.items():
        if not any(p == path or p.endswith("/" + path) for p, d in sdist.modules.items() if d == digest):
            return f"its {path} differs from the published file's (not the same build)"
    return None
