"""Read what an index already holds for a project, from its PEP 503 simple page.

Redirects are *not* followed: pypiserver redirects names it does not hold to its fallback (the
public index), and a public `orm-models` must never be mistaken for ours.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from http.client import HTTPResponse
from urllib.parse import urlsplit, urlunsplit

from tools.release import ReleaseError
from tools.release.credentials import Credentials

TIMEOUT_SECONDS = 10.0


def public_url(url: str) -> str:
    """`url` without any userinfo: the only form of an index URL that may be printed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(
    url: str,
    credentials: Credentials | None,
    timeout: float = TIMEOUT_SECONDS,
    *,
    data: bytes | None = None,
    content_type: str | None = None,
) -> tuple[int, str]:
    """GET (POST with `data`) `url` with basic auth; returns (status, body). ReleaseError if unreachable."""
    headers = {"Accept": "text/html"} | ({"Content-Type": content_type} if content_type else {})
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - http(s) only
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


def published_files(
    simple_url: str, project: str, credentials: Credentials | None, timeout: float = TIMEOUT_SECONDS
) -> dict[str, str | None]:
    """Map each file the index holds for `project` to its sha256 (None when the index gives none)."""
    url = simple_url.rstrip("/") + f"/{project}/"
    status, body = fetch(url, credentials, timeout)
    if status == 401:
        raise ReleaseError(f"the index at {public_url(url)} wants credentials (HTTP 401): none were accepted")
    if status == 403:
        raise ReleaseError(f"the index at {public_url(url)} refused these credentials (HTTP 403)")
    if status == 404 or 300 <= status < 400:
        return {}  # the project is not there yet (a redirect points at the fallback index)
    if status != 200:
        raise ReleaseError(f"the index at {public_url(url)} answered HTTP {status}")
    # PEP 503 parsing by pypi-simple; imported here because the `index` session, which only
    # serves, does not install it.
    from pypi_simple import ProjectPage

    page = ProjectPage.from_html(project, body, base_url=url)
    return {package.filename: package.digests.get("sha256") for package in page.packages}


def check_upload_access(upload_url: str, credentials: Credentials, timeout: float) -> None:
    """Prove the upload credential is accepted without changing anything: `:action=verify`.

    pypiserver answers it only for a user allowed to upload (its `update` permission, and the
    guard's uploader list) and stores nothing. Indexes that do not know the action answer
    something else than 401/403, which says nothing about the credential: accepted then.
    """
    boundary = "orm-models-preflight"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nverify\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\norm-models\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    status, _ = fetch(
        upload_url, credentials, timeout, data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    if status == 401:
        raise ReleaseError(
            f"the index at {public_url(upload_url)} did not accept the upload credentials (HTTP 401)"
        )
    if status == 403:
        raise ReleaseError(
            f"the index at {public_url(upload_url)} refused uploads by {credentials.username!r} (HTTP 403): "
            "wrong password, or a read-only credential"
        )
