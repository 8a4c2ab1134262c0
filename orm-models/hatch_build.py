"""Hatchling build hook: every wheel carries `orm_models/schema_manifest.json`.

The manifest is built from the tree being packaged, in a fresh interpreter (the build
environment, which has the build requirements: SQLAlchemy, Alembic, griffe), by the same code
`orm-models manifest --from src` runs. It is generated, never committed.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MANIFEST_PATH = "orm_models/schema_manifest.json"


class SchemaManifestHook(BuildHookInterface):  # type: ignore[type-arg]
    """Write the schema manifest of `src/orm_models` into the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the manifest into a temporary file and force-include it in the wheel."""
        if self.target_name != "wheel":
            return
        src = Path(self.root) / "src"
        script = src / "orm_models" / "schema" / "snapshot.py"
        result = subprocess.run(
            [sys.executable, str(script), str(src)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"cannot build the schema manifest:\n{result.stderr}")
        out_dir = Path(self.directory) / ".schema-manifest"
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = out_dir / "schema_manifest.json"
        manifest.write_text(result.stdout, encoding="utf-8")
        build_data["force_include"][str(manifest)] = MANIFEST_PATH

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the temporary manifest from the output directory."""
        manifest = Path(self.directory) / ".schema-manifest" / "schema_manifest.json"
        if manifest.exists():
            manifest.unlink()
            manifest.parent.rmdir()
