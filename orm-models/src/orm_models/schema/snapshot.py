"""Print the manifest of the `orm_models` in a source tree: `python snapshot.py SRC_DIR`.

Run as a script, in its own interpreter, by `sources.tree_manifest` and the wheel build hook.
It imports the *tree's* `orm_models` and loads this tooling under another name, so it works on
a tree that has no tooling of its own (an old release checked out from git).
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_TOOL = "_orm_models_schema_tool"


def _load_tool() -> ModuleType:
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        _TOOL, here / "__init__.py", submodule_search_locations=[str(here)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - the file is right here
        raise ImportError(f"cannot load {here}")
    tool = importlib.util.module_from_spec(spec)
    sys.modules[_TOOL] = tool
    spec.loader.exec_module(tool)
    return tool


def main(argv: list[str]) -> int:
    """Print the manifest of `argv[1]`'s `orm_models`; exit 2 on a usage error."""
    if len(argv) != 2:
        print("usage: python snapshot.py SRC_DIR", file=sys.stderr)
        return 2
    # Replace this script's directory (sys.path[0]) by the tree: its orm_models must win.
    sys.path[0] = str(Path(argv[1]).resolve())
    tool = _load_tool()
    import orm_models

    sys.stdout.write(tool.dumps(tool.manifest_of_package(orm_models)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
