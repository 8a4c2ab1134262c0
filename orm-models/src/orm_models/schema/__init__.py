"""Schema tooling: manifest, diff, semantic-version classification, migration lint, changelog.

Modules import each other relatively and never import `orm_models` at module level, so the
package also runs against another tree's models (see `snapshot.py`).
"""

from .api_surface import api_snapshot, diff_api
from .changes import Bump, Change, Impact, Section
from .diff import diff_manifests
from .lint import Finding, RevisionLint, lint_revision, lint_revisions
from .manifest import MANIFEST_NAME, Manifest, build_manifest, dumps, loads
from .sources import (
    installed_manifest,
    installed_revision_sources,
    manifest_of_package,
    read_manifest,
    revision_sources,
    tree_manifest,
)
from .versioning import Verdict, bumped, parse_version, verdict

__all__ = [
    "MANIFEST_NAME",
    "Bump",
    "Change",
    "Finding",
    "Impact",
    "Manifest",
    "RevisionLint",
    "Section",
    "Verdict",
    "api_snapshot",
    "build_manifest",
    "bumped",
    "diff_api",
    "diff_manifests",
    "dumps",
    "installed_manifest",
    "installed_revision_sources",
    "lint_revision",
    "lint_revisions",
    "loads",
    "manifest_of_package",
    "parse_version",
    "read_manifest",
    "revision_sources",
    "tree_manifest",
    "verdict",
]
