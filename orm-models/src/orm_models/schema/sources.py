"""Where manifests and revision files come from: a file, a wheel, a source tree, the installed package."""

import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from .api_surface import api_snapshot
from .lint import heads_of, lint_revisions
from .manifest import MANIFEST_NAME, Manifest, build_manifest, loads

PACKAGE = "orm_models"
_VERSIONS = f"{PACKAGE}/migrations/versions/"
_SNAPSHOT_SCRIPT = Path(__file__).resolve().parent / "snapshot.py"


def manifest_of_package(package: ModuleType) -> Manifest:
    """The manifest of an imported `orm_models` package: its models, migrations and public API."""
    location = Path(str(package.__file__)).resolve().parent
    revisions = lint_revisions(_read_dir(location / "migrations" / "versions"))
    base = package.Base
    return build_manifest(
        base.metadata,
        base.registry.mappers,
        version=str(package.__version__),
        migration_head=heads_of(revisions),
        migrations=[revision.revision for revision in revisions],
        # griffe reads the files the package was imported from, not another copy on sys.path.
        api=api_snapshot(package.__name__, [location.parent]),
    )


def installed_manifest() -> Manifest:
    """The manifest of the `orm_models` this interpreter imports (the working tree when editable)."""
    import importlib

    return manifest_of_package(importlib.import_module(PACKAGE))


def tree_manifest(src_dir: Path) -> Manifest:
    """The manifest of the `orm_models` package under `src_dir`, built in a fresh interpreter.

    A fresh interpreter is what makes this usable on any tree (an old release checked out from
    git, or the tree being built into a wheel): its `orm_models` never meets the one imported here.

    Raises:
        ValueError: The tree has no importable `orm_models` package.
    """
    if not (src_dir / PACKAGE / "__init__.py").is_file():
        raise ValueError(f"{src_dir}: no {PACKAGE} package in it")
    result = subprocess.run(
        [sys.executable, str(_SNAPSHOT_SCRIPT), str(src_dir)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ValueError(f"{src_dir}: cannot build its manifest:\n{result.stderr.strip()}")
    return loads(result.stdout, source=str(src_dir))


def read_manifest(path: Path) -> Manifest:
    """A manifest from a `.json` file, a wheel (`orm_models/schema_manifest.json`) or a `src` tree.

    Raises:
        ValueError: `path` is missing or holds no manifest.
    """
    if path.is_dir():
        return tree_manifest(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            try:
                text = wheel.read(f"{PACKAGE}/{MANIFEST_NAME}").decode("utf-8")
            except KeyError:
                raise ValueError(
                    f"{path}: the wheel carries no {MANIFEST_NAME} (built before 2.1?)"
                ) from None
        return loads(text, source=str(path))
    return loads(path.read_text(encoding="utf-8"), source=str(path))


def installed_revision_sources() -> dict[str, str]:
    """The revision files of the installed `orm_models`, by file name."""
    import importlib

    package = importlib.import_module(PACKAGE)
    return _read_dir(Path(str(package.__file__)).resolve().parent / "migrations" / "versions")


def revision_sources(path: Path) -> dict[str, str]:
    """The revision files in a wheel, a `src` tree or a `versions/` directory; {} for a manifest file."""
    if path.suffix == ".whl" and path.is_file():
        with zipfile.ZipFile(path) as wheel:
            return {
                name.removeprefix(_VERSIONS): wheel.read(name).decode("utf-8")
                for name in wheel.namelist()
                if name.startswith(_VERSIONS) and name.endswith(".py")
            }
    if path.is_dir():
        versions = path / PACKAGE / "migrations" / "versions"
        return _read_dir(versions if versions.is_dir() else path)
    return {}


def _read_dir(directory: Path) -> dict[str, str]:
    return {file.name: file.read_text(encoding="utf-8") for file in sorted(directory.glob("*.py"))}
