"""pypiserver behind a WSGI guard: published versions are immutable *at the server*.

pypiserver without `--overwrite` refuses the same file name twice, but whoever holds a credential
with `update` may still `:action=remove_pkg` a release or upload a new file name for a version it
already holds (`orm_models-2.2.1-1-py3-none-any.whl`, a build tag installers prefer). This layer
sits in front of pypiserver's own app and refuses, whatever the client:

- any update action other than `file_upload` (`remove_pkg`, `doc_upload`, ...): 403;
- an upload by a user not named with `--uploader` (the read credential): 403;
- a new file for a (project, version) already published, under any file name: 409. A release is
  one wheel and one sdist, uploaded together: the second kind is accepted only within
  UPLOAD_WINDOW_SECONDS of the version's first file; a second file of a kind (a build tag, the
  version spelt `2.1` instead of `2.1.0`, another platform tag) never.

Why a guard and not another server: pypiserver is what this repository already runs and tests
(htpasswd auth, the fallback redirect that keeps dependency confusion out); devpi has immutable
(`volatile=False`) indexes but brings its own database, login flow and upload semantics, a far
larger change for one rule. The guard is ~100 lines and tested with plain twine and HTTP.

Run as `python -m tools.release.pypiserver_guard --uploader NAME -- <pypiserver run arguments>`.
"""

from __future__ import annotations

import argparse
import base64
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tools.release.distfiles import dist_key

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# Only what a read-only client does passes without a look at the body.
_READ_METHODS = ("GET", "HEAD", "OPTIONS")
UPLOAD_WINDOW_SECONDS = 600.0
"""How long after a version's first file its other kind (wheel or sdist) may still arrive."""


def _kind(filename: str) -> str:
    return "wheel" if filename.endswith(".whl") else "sdist"


def _refuse(start_response: StartResponse, status: str, message: str) -> list[bytes]:
    body = (message + "\n").encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _basic_user(environ: dict[str, Any]) -> str | None:
    scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        return base64.b64decode(token).decode("utf-8").partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return None


class ImmutableIndexGuard:
    """WSGI middleware over pypiserver's app; see the module docstring for what it refuses."""

    def __init__(self, app: WsgiApp, roots: Sequence[Path], uploaders: frozenset[str]) -> None:
        self.app = app
        self.roots = list(roots)
        self.uploaders = uploaders
        # Check-then-store must be atomic, or two uploads of one new version could both pass.
        self._upload_lock = threading.Lock()

    def held(self, key: tuple[str, str]) -> list[Path]:
        """Files the package directories hold for (project, version)."""
        return sorted(
            path
            for root in self.roots
            for path in root.rglob("*")
            if path.is_file() and dist_key(path.name) == key
        )

    def refusal(self, filename: str, key: tuple[str, str]) -> str | None:
        """Why `filename` may not join its version on this index, or None when it may."""
        held = self.held(key)
        if not held:
            return None
        names = ", ".join(path.name for path in held)
        why = f"{key[0]} {key[1]} is already published as {names}; published versions are immutable"
        if any(_kind(path.name) == _kind(filename) for path in held):
            return f"refused {filename}: {why}"
        age = time.time() - min(path.stat().st_mtime for path in held)
        if age > UPLOAD_WINDOW_SECONDS:
            return (
                f"refused {filename}: {why} (its files were uploaded {age:.0f}s ago, together or not at all)"
            )
        return None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in _READ_METHODS:
            return self.app(environ, start_response)
        user = _basic_user(environ)
        if user is None and self.uploaders:
            return self.app(environ, start_response)  # an authenticated index: pypiserver answers 401
        # Below: an uploader, or anyone on an index without authentication (immutable all the same).
        if user is not None and self.uploaders and user not in self.uploaders:
            return _refuse(start_response, "403 Read-only credential", f"{user!r} may read, not upload")
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
                "403 Published versions are immutable",
                f"refused :action={action}: this index never removes or changes a published version",
            )
        upload = request.files.get("content")
        key = dist_key(upload.raw_filename) if upload is not None else None
        if key is None:
            return self.app(environ, start_response)  # pypiserver reports the bad request
        with self._upload_lock:
            refused = self.refusal(upload.raw_filename, key)
            if refused is not None:
                return _refuse(
                    start_response, "409 Version already published", refused + "; release a new version"
                )
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
    guarded = ImmutableIndexGuard(app, [Path(root) for root in config.roots], frozenset(options.uploader))
    # wsgiref (single process, pypiserver's own request handler without reverse DNS): enough for
    # a team index on loopback, and the lock above then also orders concurrent uploads.
    bottle.run(app=guarded, host=config.host, port=config.port, server="wsgiref", handler_class=WsgiHandler)


if __name__ == "__main__":
    main()
