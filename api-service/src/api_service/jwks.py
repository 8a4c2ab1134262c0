"""The issuer's signing keys (JWKS), held per worker and refreshed without holding up a request.

- Every worker fetches the keys at start-up (`prefetch`, bounded by the HTTP timeout), so a
  worker that served nothing while the issuer was up still has them when it goes down.
- At most one download is in flight, in its own thread (never one of the request threadpool's
  few), with a short timeout; at most one starts per `auth_jwks_min_refresh_seconds`.
- A token whose key is held is checked with it at once, even while a refresh is in flight or
  the issuer hangs; keys older than `auth_jwks_cache_seconds` keep serving while the refresh
  they start runs in the background.
- An unknown `kid` is answered from the keys held: the one request that starts a refresh (the
  issuer rotated) waits for it, at most the HTTP timeout; any other, a flood of junk kids while
  a refresh is running or too soon after one, is a 401 at once.
- With no key held the answer is a 503 whose `Retry-After` is when the next download may start.
"""

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
import urllib.request
from concurrent.futures import Future
from typing import Any

import jwt

from api_service.config import Settings

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"RS256", "ES256"})


class IssuerUnavailableError(Exception):
    """No key is held and the issuer could not be reached; `retry_after` is when it is tried again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"token issuer unavailable; next attempt in {retry_after} s")
        self.retry_after = retry_after


def _fetch_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - configured URL
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.load(response)


class KeySet:
    """The issuer's signing keys by `kid`, parsed once per download."""

    def __init__(self, settings: Settings) -> None:
        assert settings.auth_issuer is not None
        self._issuer = settings.auth_issuer.rstrip("/")
        self._jwks_url = settings.auth_jwks_url
        self._timeout = settings.auth_http_timeout_seconds
        self._max_age = settings.auth_jwks_cache_seconds
        self._min_interval = settings.auth_jwks_min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # last successful download
        self._tried_at = float("-inf")  # start of the last download, successful or not
        self._refresh: Future[None] | None = None  # the download in flight
        self._lock = threading.Lock()
        # Bumped by every successful download: tokens verified under older keys are checked again.
        self.generation = 0

    @property
    def refreshing(self) -> bool:
        refresh = self._refresh
        return refresh is not None and not refresh.done()

    async def prefetch(self) -> None:
        """Start-up: download the keys, waiting at most the HTTP timeout (then serve anyway)."""
        await self._wait(self._start_refresh())

    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for `kid`, or None (a 401); raises IssuerUnavailableError when none is held."""
        key = self._lookup(kid)
        if key is not None:
            if time.monotonic() - self._fetched_at > self._max_age:
                self._start_refresh()  # in the background: this request does not wait for it
            return key
        started = self._start_refresh()
        if started is not None:
            await self._wait(started)  # perhaps the issuer rotated: this one request waits
        elif not self._keys:
            await self._wait(self._refresh)  # nothing to answer from: wait for the running one
        key = self._lookup(kid)
        if key is None and not self._keys:
            raise IssuerUnavailableError(self.retry_after())
        return key

    def retry_after(self) -> int:
        """Whole seconds until the next download may start (at least 1)."""
        next_attempt = self._tried_at + self._min_interval
        return max(1, math.ceil(next_attempt - time.monotonic()))

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        keys = self._keys
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))  # an issuer with one key may omit kid
        return keys.get(kid) if kid is not None else None

    async def _wait(self, refresh: "Future[None] | None") -> None:
        if refresh is None:
            return
        # shield: a request that gives up must not cancel the download others may be waiting on.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(refresh)), self._timeout)

    def _start_refresh(self) -> "Future[None] | None":
        """A new download in its own thread, unless one is running or one started too recently."""
        with self._lock:
            now = time.monotonic()
            if self.refreshing or now - self._tried_at < self._min_interval:
                return None
            self._tried_at = now
            refresh: Future[None] = Future()
            self._refresh = refresh
        threading.Thread(target=self._run_refresh, args=(refresh,), name="jwks-refresh", daemon=True).start()
        return refresh

    def _run_refresh(self, refresh: "Future[None]") -> None:
        try:
            keys = self._download()
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            if self._keys:
                log.warning(
                    "token issuer's keys not refreshed, keeping the %d held: %s", len(self._keys), exc
                )
            else:
                log.warning(
                    "token issuer's keys unavailable: %s; next attempt in %d s", exc, self.retry_after()
                )
        else:
            self._keys = keys  # one assignment: readers see the old dict or the new one
            self._fetched_at = time.monotonic()
            self.generation += 1
        finally:
            refresh.set_result(None)

    def _download(self) -> dict[str, jwt.PyJWK]:
        url = self._jwks_url
        if url is None:
            discovery = _fetch_json(f"{self._issuer}/.well-known/openid-configuration", self._timeout)
            url = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
            if not isinstance(url, str):
                raise ValueError("the issuer's discovery document has no jwks_uri")
            self._jwks_url = url
        document = _fetch_json(url, self._timeout)
        keys = {}
        for key in jwt.PyJWKSet.from_dict(document).keys:
            if key.public_key_use in ("sig", None) and key.algorithm_name in ALGORITHMS:
                keys[key.key_id or ""] = key
        log.info("token issuer's keys fetched: %d signing keys from %s", len(keys), url)
        return keys
