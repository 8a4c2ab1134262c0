"""Read what an index already holds for a project, from its PEP 503 simple page.

Redirects are *not* followed: pypiserver redirects names it does not hold to its fallback (the
public index), and a public `orm-models` must never be mistaken for ours.
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from http.client import HTTPResponse
from urllib.parse import urlsplit, urlunsplit

from tools.release import ReleaseError
from tools.release.credentials import Credentials

TIMEOUT_SECONDS = 10.0
_LINK = re.compile(r"""<a\s[^>]*href="(?P<href>[^"]+)"[^>]*>(?P<name>[^<]+)</a>""", re.IGNORECASE)


def public_url(url: str) -> str:
    """`url` without any userinfo: the only form of an index URL that may be printed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, credentials: Credentials | None, timeout: float = TIMEOUT_SECONDS) -> tuple[int, str]:
    """GET `url` with basic auth; returns (status, body). Raises ReleaseError if unreachable."""
    request = urllib.request.Request(url, headers={"Accept": "text/html"})  # noqa: S310 - http(s) only
    if urlsplit(url).scheme not in ("http", "https"):
        raise ReleaseError(f"not an http(s) index URL: {public_url(url)}")
    if credentials is not None:
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response: HTTPResponse = opener.open(request, timeout=timeout)
        with response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise ReleaseError(f"the index at {public_url(url)} is not reachable ({reason})") from None


def published_files(simple_url: str, project: str, credentials: Credentials | None) -> dict[str, str | None]:
    """Map each file the index holds for `project` to its sha256 (None when the index gives none)."""
    url = simple_url.rstrip("/") + f"/{project}/"
    status, body = fetch(url, credentials)
    if status == 401:
        raise ReleaseError(f"the index at {public_url(url)} wants credentials (HTTP 401): none were accepted")
    if status == 403:
        raise ReleaseError(f"the index at {public_url(url)} refused these credentials (HTTP 403)")
    if status == 404 or 300 <= status < 400:
        return {}  # the project is not there yet (a redirect points at the fallback index)
    if status != 200:
        raise ReleaseError(f"the index at {public_url(url)} answered HTTP {status}")
    files: dict[str, str | None] = {}
    for match in _LINK.finditer(body):
        _, _, fragment = match["href"].partition("#")
        algorithm, _, digest = fragment.partition("=")
        files[match["name"].strip()] = digest if algorithm == "sha256" and digest else None
    return files
