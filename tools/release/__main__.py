"""`python -m tools.release <command>`: what the nox sessions run inside their virtualenvs."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from tools.release.dependencies import explain_missing

with explain_missing(sys.argv[1:]):  # packaging, pypi-simple, ...: one line naming the nox session
    from tools.release import PROJECT, ReleaseError, build, codeartifact, index, release, releases
    from tools.release.build import expected_names
    from tools.release.credentials import (
        Target,
        index_url,
        load_or_create_local,
        read_credentials,
        upload_target,
    )
    from tools.release.distfiles import parse_dist
    from tools.release.progress import each_release
    from tools.release.publish import publish
    from tools.release.simple import check_upload_access, public_url, published_files

# The repository released from; ORM_REPO_ROOT points the tool at another checkout (the tests do).
ROOT = Path(os.environ.get("ORM_REPO_ROOT") or Path(__file__).resolve().parents[2])
# Pre-flight requests must fail fast: a wrong password or a dead index is reported within ~2 s.
PREFLIGHT_TIMEOUT_SECONDS = 1.5


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise ReleaseError("uv not found: set UV to its path")
    return found


def _index(arguments: argparse.Namespace) -> int:
    if arguments.action == "stop":
        return index.stop(arguments.state_dir)
    if arguments.action == "htpasswd":
        path = index.write_compose_htpasswd(arguments.state_dir)
        local = load_or_create_local(arguments.state_dir / "credentials")
        print(
            f"wrote {path}: upload user {local.upload.username!r}, read user {local.read.username!r} "
            f"(passwords in {arguments.state_dir / 'credentials'})"
        )
        return 0
    if codeartifact.from_environment() is not None:
        raise ReleaseError("ORM_INDEX_URL names a CodeArtifact repository; `index` serves a local index only")
    port = arguments.port
    if port is None:
        parts = urlsplit(index_url())
        if parts.hostname not in (index.HOST, "localhost") or parts.scheme != "http":
            raise ReleaseError(f"ORM_INDEX_URL={public_url(index_url())} is not a local http URL to serve")
        port = parts.port or 80
    return index.serve(arguments.state_dir, port, arguments.fallback_url)


def _target() -> Target:
    """Where to upload: the CodeArtifact repository ORM_INDEX_URL names (endpoint and token from
    boto3), else TWINE_*, a `[private]` .pypirc or the local index's credentials."""
    repository = codeartifact.from_environment()
    if repository is not None:
        return codeartifact.source_for(repository).target()
    return upload_target(ROOT, index_url())


def preflight(target: Target) -> dict[str, str | None]:
    """Reachable index, accepted upload credential: checked before anything is built or changed.

    Returns what the index holds for orm-models (file name -> sha256).
    """
    held = published_files(target.simple_url, PROJECT, target.credentials, PREFLIGHT_TIMEOUT_SECONDS)
    check_upload_access(target.upload_url, target.credentials, PREFLIGHT_TIMEOUT_SECONDS)
    return held


def _build(arguments: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as work:
        dists = build.build(ROOT, arguments.commit, arguments.out_dir, _uv(), Path(work))
        build.twine_check(dists)
    for dist in dists:
        print(f"built {dist.relative_to(ROOT) if dist.is_relative_to(ROOT) else dist}")
    return 0


def _publish(arguments: argparse.Namespace) -> int:
    target = _target()
    held = preflight(target)
    if arguments.files:
        publish(arguments.files, target)
        return 0
    # Default: make the index hold every recorded release, each rebuilt from its own commit —
    # except those it already holds in full: the server never lets a held version change (the
    # guard refuses any new file for it), so rebuilding them could only confirm or fail.
    missing = [known for known in releases.load(ROOT) if not set(expected_names(known.version)) <= set(held)]
    for known in releases.load(ROOT):
        if known not in missing:
            print(f"skip    orm-models {known.version}: {public_url(target.simple_url)} holds all its files")
    with tempfile.TemporaryDirectory() as work:
        label = "orm-models {0.version} from {0.commit:.7}"
        for known in each_release(missing, "building and publishing", label):
            dists = build.build(ROOT, known.commit, Path(work) / "dist", _uv(), Path(work))
            build.twine_check(dists)
            publish(dists, _target())  # a CodeArtifact token is replaced before it expires
    return 0


def _release(arguments: argparse.Namespace) -> int:
    # Everything that can be checked is checked before anything changes: git identity and a clean
    # tree (plan), credentials found and accepted by a reachable index (preflight), and the schema
    # gate's verdict for a major (the session ran the gate and orm-models' tests before this).
    step = release.plan(ROOT, arguments.part)
    if arguments.required_bump is not None:
        release.require_breaking_change(arguments.part, arguments.required_bump, arguments.allow_empty_major)
    if arguments.plan and not arguments.preflight:
        print(step.version)
        return 0
    target = _target()
    preflight(target)
    if arguments.plan:
        print(
            "pre-flight passed: git identity, clean tree, "
            f"{public_url(target.upload_url)} accepts the upload credential"
        )
        print(step.version)
        return 0
    generated = arguments.changelog.read_text(encoding="utf-8") if arguments.changelog else ""
    with tempfile.TemporaryDirectory() as work:
        release.run(ROOT, arguments.part, target, _uv(), Path(work), generated)
    return 0


def _versions(arguments: argparse.Namespace) -> int:
    """Print the versions of orm-models on the index, lowest first (the compat session uses it)."""
    repository = codeartifact.from_environment()
    if repository is not None:
        target = codeartifact.source_for(repository).target()
        _print_versions(published_files(target.simple_url, PROJECT, target.credentials))
        return 0
    credentials = read_credentials(ROOT)
    if credentials is None:  # no read user configured: the upload one may read too
        credentials = upload_target(ROOT, index_url()).credentials
    simple_url = os.environ.get("ORM_INDEX_SIMPLE_URL") or index_url() + "simple/"
    _print_versions(published_files(simple_url, PROJECT, credentials))
    return 0


def _print_versions(files: dict[str, str | None]) -> None:
    found = {parsed[1] for parsed in map(parse_dist, files) if parsed is not None}
    for known in sorted(found):
        print(known)


def _index_env(arguments: argparse.Namespace) -> int:
    """The CodeArtifact repository's simple URL and a fresh token, as JSON, for the noxfile's uv
    commands (lock, installs, compat) to read from a pipe; refused on a terminal, where it would
    sit in the scrollback."""
    repository = codeartifact.from_environment()
    if repository is None:
        raise ReleaseError("index-env: ORM_INDEX_URL does not name a CodeArtifact repository")
    if sys.stdout.isatty():
        raise ReleaseError("index-env prints a token: pipe it into the program that needs it")
    source = codeartifact.source_for(repository)
    token = source.token()
    print(json.dumps({"simple_url": source.endpoint() + "simple/", "username": codeartifact.USERNAME,
                      "password": token, "expires_at": source.expires_at}))  # fmt: skip
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "index", help="run the local private index (foreground), stop it, or write compose.yaml's htpasswd"
    )
    serve.add_argument("action", nargs="?", choices=["serve", "stop", "htpasswd"], default="serve")
    serve.add_argument("--state-dir", type=Path, default=ROOT / ".index")
    serve.add_argument("--port", type=int, help="default: the port of ORM_INDEX_URL (or ORM_INDEX_PORT)")
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
    release_parser.add_argument(
        "--preflight", action="store_true", help="with --plan: also check the index and the credential"
    )
    release_parser.add_argument("--changelog", type=Path, help="generated CHANGELOG entries to include")
    release_parser.add_argument(
        "--required-bump", choices=["none", "patch", "minor", "major"], help="the schema gate's verdict"
    )
    release_parser.add_argument(
        "--allow-empty-major", action="store_true", help="release a major with no breaking change"
    )
    release_parser.set_defaults(handler=_release)

    versions = commands.add_parser("versions", help="list the orm-models versions on the index")
    versions.set_defaults(handler=_versions)

    env = commands.add_parser("index-env", help="CodeArtifact: simple URL and token as JSON, for a pipe")
    env.set_defaults(handler=_index_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        with explain_missing(list(sys.argv[1:] if argv is None else argv)):
            code: int = arguments.handler(arguments)
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
