"""pypiserver behind a WSGI guard: what `==V` installs never changes, whoever holds a credential.

pypiserver without `--overwrite` refuses the same file name twice, but whoever holds a credential
with `update` may still `:action=remove_pkg` a release, or upload another file that installers
take for a version already published: another spelling of the name (`orm__models-2.2.1-...`), a
build tag, `2.2.1+local` (PEP 440: `==2.2.1` matches it), or another archive type (`.tgz`). This
layer sits in front of pypiserver's own app and, whatever the client:

1. authenticates first: a write request without a valid credential gets 401, a valid read-only
   one 403, and neither learns anything about what the index holds;
2. refuses any update action other than `file_upload` (`remove_pkg`, `doc_upload`, ...): 403;
3. judges an upload by its parsed identity (`dist_identity`): only `.whl` and `.tar.gz`, the
   canonical file name, no build tag, no local version, name and version as its own metadata
   says: otherwise 400;
4. once any file exists for (project, version) — any name pypiserver would list under that
   project and public version — refuses every other file for it (409), except the other half of
   the same release: the sdist of a held wheel or the wheel of a held sdist, within
   UPLOAD_WINDOW_SECONDS of the first (one publish), with the same requirements and the wheel's
   Python modules byte for byte in the sdist (`dist_identity.same_release`).

Why a guard and not another server: pypiserver is what this repository already runs and tests
(htpasswd auth, the fallback redirect that keeps dependency confusion out); devpi has immutable
(`volatile=False`) indexes but brings its own database, login flow and upload semantics, a far
larger change for one rule.

Run as `python -m tools.release.pypiserver_guard --uploader NAME -- <pypiserver run arguments>`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tools.release.dist_identity import Identity, RefusedDistributionError, identify, same_release

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Auther = Callable[[str, str], bool]
# Only what a read-only client does passes without a look at the body (pypiserver authenticates
# downloads and listings itself: `-a update,download,list`).
_READ_METHODS = ("GET", "HEAD", "OPTIONS")
_REASON_LIMIT = 400
UPLOAD_WINDOW_SECONDS = 600.0
"""How long after a version's first file its other kind (wheel or sdist) may still arrive."""


def _refuse(
    start_response: StartResponse, code: int, message: str, headers: Sequence[tuple[str, str]] = ()
) -> list[bytes]:
    """`code` with `message` as its reason phrase too: twine prints the phrase, not the body."""
    body = (message + "\n").encode()
    reason = message.encode("ascii", "replace").decode()[:_REASON_LIMIT]
    start_response(
        f"{code} {reason}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


def _basic_credentials(environ: dict[str, Any]) -> tuple[str, str] | None:
    scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, separator, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if separator else None


def _held_version(filename: str) -> tuple[str, Version] | None:
    """(project, version) pypiserver lists `filename` under, by pypiserver's own file-name parser."""
    from pypiserver.pkg_helpers import guess_pkgname_and_version

    guessed = guess_pkgname_and_version(filename)
    if not guessed:
        return None
    try:
        return canonicalize_name(guessed[0]), Version(guessed[1])
    except InvalidVersion:
        return None


def _public(version: Version) -> Version:
    """`2.3.0+local` and `2.3.0.0` as `==2.3.0` sees them: one version (PEP 440 comparison)."""
    return Version(version.public)


class ImmutableIndexGuard:
    """WSGI middleware over pypiserver's app; see the module docstring for what it refuses."""

    def __init__(
        self, app: WsgiApp, roots: Sequence[Path], uploaders: frozenset[str], auther: Auther | None = None
    ) -> None:
        self.app = app
        self.roots = list(roots)
        self.uploaders = uploaders
        self.auther = auther
        """None: an index without authentication (anyone may upload, judged all the same)."""
        # Check-then-store must be atomic, or two uploads of one new version could both pass.
        self._upload_lock = threading.Lock()

    def held(self, identity: Identity) -> list[Path]:
        """Files the package directories hold that installers take for identity's public version."""
        found = []
        for root in self.roots:
            for path in root.rglob("*"):
                held = _held_version(path.name) if path.is_file() else None
                if held and held[0] == identity.project and _public(held[1]) == _public(identity.version):
                    found.append(path)
        return sorted(found)

    def refusal(self, filename: str, identity: Identity) -> str | None:
        """Why `filename` may not join its version on this index, or None when it may."""
        held = self.held(identity)
        if not held:
            return None
        names = ", ".join(path.name for path in held)
        why = (
            f"{identity.project} {identity.version} is already published as {names}; "
            "published versions are immutable"
        )
        if len(held) > 1:
            return f"refused {filename}: {why}"
        try:
            first = identify(held[0].name, held[0].read_bytes())
        except RefusedDistributionError:
            return f"refused {filename}: {why}"  # a file put there by hand: nothing joins it
        mismatch = same_release(first, identity)
        if mismatch is not None:
            return f"refused {filename}: {why} ({mismatch})"
        age = time.time() - held[0].stat().st_mtime
        if age > UPLOAD_WINDOW_SECONDS:
            return (
                f"refused {filename}: {why} (uploaded {age:.0f}s ago; a release's files come in one publish)"
            )
        return None

    def _authenticated(self, environ: dict[str, Any]) -> str | None:
        """The user name of a valid credential, "" on an index without authentication, else None."""
        if self.auther is None:
            return ""
        credentials = _basic_credentials(environ)
        if credentials is None or not self.auther(*credentials):
            return None
        return credentials[0]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in _READ_METHODS:
            return self.app(environ, start_response)
        # Before the body is read or anything is looked up: no content is judged, listed or even
        # parsed for a request that has not authenticated.
        user = self._authenticated(environ)
        if user is None:
            return _refuse(
                start_response, 401, "authentication required",
                [("WWW-Authenticate", 'Basic realm="pypi"')],
            )  # fmt: skip
        if self.auther is not None and user not in self.uploaders:
            return _refuse(start_response, 403, f"{user!r} may read, not upload")
        # pypiserver's bottle parses the form once and caches it in `environ` (and re-seats
        # wsgi.input), so the app below reads the same body again.
        from pypiserver.bottle_wrapper import BaseRequest

        request = BaseRequest(environ)
        action = request.forms.get(":action")
        if action in ("verify", "submit"):
            return self.app(environ, start_response)
        if action != "file_upload":
            return _refuse(
                start_response,
                403,
                f"refused :action={action}: this index never removes or changes a published version",
            )
        upload = request.files.get("content")
        if upload is None:
            return self.app(environ, start_response)  # pypiserver reports the bad request
        if request.files.get("gpg_signature") is not None:
            return _refuse(start_response, 400, "refused: signature files are not held here")
        filename = str(upload.raw_filename)
        try:
            identity = identify(filename, upload.file.read())
        except RefusedDistributionError as refused:
            return _refuse(start_response, 400, str(refused))
        finally:
            upload.file.seek(0)
        with self._upload_lock:
            why = self.refusal(filename, identity)
            if why is not None:
                return _refuse(start_response, 409, why + "; release a new version")
            return list(self.app(environ, start_response))


def main(argv: Sequence[str] | None = None) -> None:
    """Parse our options, build pypiserver's app from its own command line, serve it guarded."""
    parser = argparse.ArgumentParser(prog="python -m tools.release.pypiserver_guard")
    parser.add_argument("--uploader", action="append", default=[], help="user allowed to upload")
    parser.add_argument("pypiserver_args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    args = options.pypiserver_args[1:] if options.pypiserver_args[:1] == ["--"] else options.pypiserver_args

    import pypiserver
    from pypiserver import bottle_wrapper as bottle
    from pypiserver.__main__ import WsgiHandler, init_logging
    from pypiserver.config import Config

    config = Config.from_args(args)
    init_logging(level=config.log_level, filename=config.log_file, frmt=config.log_frmt, stream=sys.stderr)
    app = pypiserver.setup_routes_from_config(pypiserver.app_from_config(config), config)
    # pypiserver's own htpasswd check (`-P`), so the guard and the server agree on who is who.
    auther = config.auther if "update" in config.authenticate else None
    guarded = ImmutableIndexGuard(
        app, [Path(root) for root in config.roots], frozenset(options.uploader), auther
    )
    # wsgiref (single process, pypiserver's own request handler without reverse DNS): enough for
    # a team index on loopback, and the lock above then also orders concurrent uploads.
    bottle.run(app=guarded, host=config.host, port=config.port, server="wsgiref", handler_class=WsgiHandler)


if __name__ == "__main__":
    main()
