"""`python -m tools.release <command>`: what the nox sessions run inside their virtualenvs."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tools.release import PROJECT, ReleaseError, build, index, release, releases
from tools.release.credentials import upload_target
from tools.release.publish import publish
from tools.release.simple import published_files
from tools.release.version import parse

# The repository released from; ORM_REPO_ROOT points the tool at another checkout (the tests do).
ROOT = Path(os.environ.get("ORM_REPO_ROOT") or Path(__file__).resolve().parents[2])
DEFAULT_URL = f"http://{index.HOST}:{index.DEFAULT_PORT}/"


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise ReleaseError("uv not found: set UV to its path")
    return found


def _index(arguments: argparse.Namespace) -> int:
    if arguments.action == "stop":
        return index.stop(arguments.state_dir)
    return index.serve(arguments.state_dir, arguments.port, arguments.fallback_url)


def _build(arguments: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as work:
        dists = build.build(ROOT, arguments.commit, arguments.out_dir, _uv(), Path(work))
        build.twine_check(dists)
    for dist in dists:
        print(f"built {dist.relative_to(ROOT) if dist.is_relative_to(ROOT) else dist}")
    return 0


def _publish(arguments: argparse.Namespace) -> int:
    target = upload_target(ROOT, DEFAULT_URL)
    if arguments.files:
        publish(arguments.files, target)
        return 0
    # Default: make the index hold every recorded release, each rebuilt from its own commit.
    with tempfile.TemporaryDirectory() as work:
        for known in releases.load(ROOT):
            dists = build.build(ROOT, known.commit, Path(work) / "dist", _uv(), Path(work))
            build.twine_check(dists)
            publish(dists, target)
    return 0


def _release(arguments: argparse.Namespace) -> int:
    if arguments.plan:
        print(release.plan(ROOT, arguments.part).version)
        return 0
    generated = arguments.changelog.read_text(encoding="utf-8") if arguments.changelog else ""
    release.plan(ROOT, arguments.part)  # a dirty tree is refused before anything else is looked at
    target = upload_target(ROOT, DEFAULT_URL)  # and missing credentials before anything is changed
    with tempfile.TemporaryDirectory() as work:
        release.run(ROOT, arguments.part, target, _uv(), Path(work), generated)
    return 0


def _versions(arguments: argparse.Namespace) -> int:
    """Print the versions of orm-models on the index, lowest first (the compat session uses it)."""
    target = upload_target(ROOT, DEFAULT_URL)
    files = published_files(target.simple_url, PROJECT, target.credentials)
    found = {name.removeprefix("orm_models-").split("-")[0] for name in files if name.endswith(".whl")}
    for known in sorted(found, key=parse):
        print(known)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("index", help="run the local private index (foreground), or stop it")
    serve.add_argument("action", nargs="?", choices=["serve", "stop"], default="serve")
    serve.add_argument("--state-dir", type=Path, default=ROOT / ".index")
    serve.add_argument("--port", type=int, default=int(os.environ.get("ORM_INDEX_PORT", index.DEFAULT_PORT)))
    serve.add_argument("--fallback-url", help="where names the index does not hold are redirected")
    serve.set_defaults(handler=_index)

    build_parser = commands.add_parser("build", help="build wheel + sdist from a commit and check them")
    build_parser.add_argument("--commit", default="HEAD")
    build_parser.add_argument("--out-dir", type=Path, default=ROOT / "dist")
    build_parser.set_defaults(handler=_build)

    publish_parser = commands.add_parser("publish", help="upload idempotently (default: every release)")
    publish_parser.add_argument("files", nargs="*", type=Path)
    publish_parser.set_defaults(handler=_publish)

    release_parser = commands.add_parser("release", help="bump, changelog, build, check, publish, record")
    release_parser.add_argument("part", choices=["major", "minor", "patch"])
    release_parser.add_argument("--plan", action="store_true", help="only print the version it would release")
    release_parser.add_argument("--changelog", type=Path, help="generated CHANGELOG entries to include")
    release_parser.set_defaults(handler=_release)

    versions = commands.add_parser("versions", help="list the orm-models versions on the index")
    versions.set_defaults(handler=_versions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        code: int = arguments.handler(arguments)
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
