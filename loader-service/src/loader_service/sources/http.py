"""Streaming GET with timeouts and bounded retries (httpx + tenacity).

Retried: connection failures, timeouts, 429 and 5xx, up to `http_retries` times with
exponential backoff. Not retried: other 4xx (asking again will not help). Only opening the
response is retried; a stream that breaks half-way fails the run (the transaction rolls back).

Whole-source proof: httpx refuses a body shorter than its `Content-Length` or a chunked body
without its last chunk; after the last byte, a HEAD request must return the `ETag` (or, without
one, the `Last-Modified`) the GET had, else the object changed while it was read.
"""

import io
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from loader_service.config import Settings
from loader_service.errors import SourceChangedError, SourceError
from loader_service.redaction import redact
from loader_service.sources.transport import Opened


class _RetryableStatusError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} {response.reason_phrase}")
        self.response = response


class _ResponseReader(io.RawIOBase):
    """A file-like view of a streamed response body (already content-decoded by httpx)."""

    def __init__(self, response: httpx.Response, name: str) -> None:
        self._chunks = response.iter_bytes()
        self._pending = b""
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        if not self._pending:
            try:
                self._pending = next(self._chunks, b"")
            except httpx.HTTPError as error:
                raise SourceError(f"{self._name}: connection lost while reading: {error!r}") from error
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _send(client: httpx.Client, url: str) -> httpx.Response:
    response = client.send(client.build_request("GET", url), stream=True)
    if response.status_code == 429 or response.status_code >= 500:
        response.close()
        raise _RetryableStatusError(response)
    return response


@contextmanager
def open_url(url: str, settings: Settings) -> Iterator[Opened]:
    name = redact(url)
    attempts = settings.http_retries + 1
    timeout = httpx.Timeout(settings.http_timeout)
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=settings.http_retry_wait, max=30),
            retry=retry_if_exception_type((httpx.TransportError, _RetryableStatusError)),
            reraise=False,
        )
        try:
            response = retrying(_send, client, url)
        except RetryError as failure:
            last = failure.last_attempt.exception()
            if isinstance(last, _RetryableStatusError):
                message = f"{name}: {last} (after {attempts} attempts)"
            else:
                message = f"{name}: cannot reach the server: {_reason(last)} (after {attempts} attempts)"
            raise SourceError(message) from last
        except httpx.HTTPError as error:  # not a transport error, e.g. an invalid URL
            raise SourceError(f"{name}: {error}") from error
        try:
            if response.status_code >= 400:
                raise SourceError(f"{name}: HTTP {response.status_code} {response.reason_phrase}")
            length = response.headers.get("content-length")
            encoded = "content-encoding" in response.headers
            size = int(length) if length and length.isdigit() and not encoded else None
            validator = _validator(response.headers)

            def verify(read: int) -> None:
                if size is not None and read != size:  # pragma: no cover - httpx refuses a short body
                    raise SourceChangedError(
                        f"{name}: the source changed while it was read (read {read} of {size} bytes); "
                        "nothing was changed"
                    )
                if validator is not None:
                    _check_unchanged(client, url, name, validator)

            yield Opened(_ResponseReader(response, name), size, verify)  # type: ignore[arg-type]
        finally:
            response.close()


def _reason(error: BaseException | None) -> str:
    if error is None:  # pragma: no cover - tenacity always records the last exception here
        return "unknown error"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


def _validator(headers: httpx.Headers) -> tuple[str, str] | None:
    """The header that names this version of the resource: ETag, else Last-Modified (None: neither)."""
    for header in ("etag", "last-modified"):
        if header in headers:
            return header, headers[header]
    return None


def _check_unchanged(client: httpx.Client, url: str, name: str, validator: tuple[str, str]) -> None:
    header, seen = validator
    try:
        response = client.head(url)
    except httpx.HTTPError as error:
        raise SourceError(
            f"{name}: cannot check the source is unchanged after reading it: {_reason(error)}"
        ) from None
    now = response.headers.get(header)
    if response.status_code >= 400 or now is None:
        # The server cannot say (HEAD not allowed, or a pre-signed URL signed for GET only):
        # the GET's own length check stands.
        return
    if now != seen:
        raise SourceChangedError(
            f"{name}: the source changed while it was read ({header} {seen} when opened, {now} at the end); "
            "nothing was changed"
        )
