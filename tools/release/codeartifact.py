"""AWS CodeArtifact as the private index: `ORM_INDEX_URL=codeartifact://<domain>-<owner>/<repository>`.

The URL names the repository the way CodeArtifact's own endpoint host does
(`<domain>-<owner>.d.codeartifact.<region>.amazonaws.com`): domain, then the 12-digit account that
owns it, then the repository; `?region=eu-west-1` picks the region (else boto3's own default:
AWS_REGION, the profile). Everything else comes from boto3 at run time:

- the endpoint from `get_repository_endpoint(format="pypi")` (upload URL; `<endpoint>simple/` reads);
- a token from `get_authorization_token`, user name `aws`, held in memory only and fetched again
  REFRESH_MARGIN_SECONDS before it expires: never written to a file, an URL or a log line.

AWS credentials are boto3's (environment, profile, instance role); nothing here stores them.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tools.release import ReleaseError
from tools.release.credentials import Credentials, Target

SCHEME = "codeartifact"
USERNAME = "aws"
"""CodeArtifact's fixed user name for token (basic) authentication."""
TOKEN_SECONDS = 3600
"""A token's lifetime asked of CodeArtifact (it allows 900 s to 12 h); shorter limits a leak."""
REFRESH_MARGIN_SECONDS = 300.0
"""A token this close to its expiry is replaced before use: a twine upload or a lock outlives it."""
_DOMAIN = re.compile(r"^[a-z][a-z0-9-]{0,48}[a-z0-9]$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$")
_OWNER = re.compile(r"^[0-9]{12}$")


@dataclass(frozen=True)
class Repository:
    """A CodeArtifact repository, as `codeartifact://<domain>-<owner>/<repository>?region=` names it."""

    domain: str
    owner: str
    repository: str
    region: str | None = None

    def __str__(self) -> str:
        query = f"?region={self.region}" if self.region else ""
        return f"{SCHEME}://{self.domain}-{self.owner}/{self.repository}{query}"


def parse(url: str) -> Repository | None:
    """The repository `url` names; None for any other kind of index URL; ReleaseError if malformed."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        return None
    usage = f"{SCHEME}://<domain>-<12-digit owner>/<repository>[?region=<region>]"
    host = parts.netloc
    domain, _, owner = host.rpartition("-")
    repository = parts.path.strip("/")
    query = parse_qs(parts.query)
    if parts.username or parts.password:
        raise ReleaseError(f"{SCHEME} URL: no credentials in it (boto3 finds AWS credentials); use {usage}")
    if not _DOMAIN.match(domain) or not _OWNER.match(owner):
        raise ReleaseError(f"{SCHEME} URL: {host!r} is not <domain>-<12-digit account id>; use {usage}")
    if not _REPOSITORY.match(repository):
        raise ReleaseError(f"{SCHEME} URL: {repository!r} is not a repository name; use {usage}")
    if set(query) - {"region"}:
        raise ReleaseError(f"{SCHEME} URL: unknown option(s) {sorted(set(query) - {'region'})}; use {usage}")
    region = query.get("region", [None])[-1]
    return Repository(domain, owner, repository, region)


def from_environment() -> Repository | None:
    """The repository ORM_INDEX_URL names, or None when it names another kind of index (or none)."""
    return parse(os.environ.get("ORM_INDEX_URL", ""))


def _new_client(repository: Repository) -> Any:
    """boto3's CodeArtifact client (imported here: only a CodeArtifact index needs boto3)."""
    try:
        import boto3
    except ModuleNotFoundError:
        raise ReleaseError(f"ORM_INDEX_URL names {repository}: install boto3 (pip install boto3)") from None
    return boto3.client("codeartifact", region_name=repository.region)


class TokenSource:
    """Endpoint and token of one repository, the token replaced before it expires.

    `client` is a boto3 CodeArtifact client (a Stubber-wrapped one in the tests); `clock` returns
    seconds since the epoch.
    """

    def __init__(
        self, repository: Repository, client: Any = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.repository = repository
        self._client = client
        self._clock = clock
        self._endpoint: str | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _new_client(self.repository)
        return self._client

    def endpoint(self) -> str:
        """The repository's PyPI endpoint (upload URL), asked once."""
        if self._endpoint is None:
            answer = self._call(
                "get_repository_endpoint",
                domain=self.repository.domain, domainOwner=self.repository.owner,
                repository=self.repository.repository, format="pypi",
            )  # fmt: skip
            self._endpoint = str(answer["repositoryEndpoint"]).rstrip("/") + "/"
        return self._endpoint

    def token(self) -> str:
        """A token valid for at least REFRESH_MARGIN_SECONDS more."""
        with self._lock:
            if self._token is None or self._expires_at - self._clock() < REFRESH_MARGIN_SECONDS:
                answer = self._call(
                    "get_authorization_token",
                    domain=self.repository.domain, domainOwner=self.repository.owner,
                    durationSeconds=TOKEN_SECONDS,
                )  # fmt: skip
                self._token = str(answer["authorizationToken"])
                self._expires_at = answer["expiration"].timestamp()
            return self._token

    @property
    def expires_at(self) -> float:
        """When the current token expires (seconds since the epoch)."""
        self.token()
        return self._expires_at

    def credentials(self) -> Credentials:
        return Credentials(USERNAME, self.token())

    def target(self) -> Target:
        """Where publish uploads and what it reads, with a fresh token."""
        upload = self.endpoint()
        return Target(upload, upload + "simple/", self.credentials())

    def _call(self, operation: str, **parameters: object) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**parameters)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            message = error.response.get("Error", {}).get("Message", "")
            raise ReleaseError(f"CodeArtifact {operation} for {self.repository}: {code}: {message}") from None
        except BotoCoreError as error:  # no AWS credentials, no region, endpoint unreachable
            raise ReleaseError(f"CodeArtifact {operation} for {self.repository}: {error}") from None


_SOURCES: dict[Repository, TokenSource] = {}


def source_for(repository: Repository) -> TokenSource:
    """One TokenSource per repository and process, so its token is reused until near expiry."""
    if repository not in _SOURCES:
        _SOURCES[repository] = TokenSource(repository)
    return _SOURCES[repository]
