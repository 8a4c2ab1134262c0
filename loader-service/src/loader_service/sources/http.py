"""Streaming GET with timeouts and bounded retries (httpx + tenacity).

Retried: connection failures, timeouts, 408, 429 and 5xx (but 501 and 505), up to
`http_retries` times with exponential backoff. Not retried, because asking again cannot help:
other 4xx, an unsupported scheme (a redirect to `file://`), a TLS certificate the client
refuses, an invalid URL. Only opening the response is retried; a stream that breaks half-way
fails the run (the transaction rolls back).

Whole-source proof: the body must be framed, by a `Content-Length` (h11 refuses a shorter
body) or chunked (refused without its last chunk); a body ended only by the server closing the
connection (HTTP/1.0 style) cannot be told from one cut short and is refused unless the
operator opts in (`LOADER_HTTP_ALLOW_UNFRAMED`). The body is read raw: its `Content-Encoding`
is decoded by the loader, which insists on each coding's own end (httpx's decoder accepts a
gzip body without its trailer). After the last byte, a HEAD request must return the `ETag`
(or, without one, the `Last-Modified`) the GET had, else the object changed while it was read.
"""

import io
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from loader_service.config import Settings
from loader_service.errors import SourceChangedError, SourceError
from loader_service.redaction import redact
from loader_service.sources.opened import Opened

_RETRIED_STATUS = {408, 429}
_NOT_RETRIED_5XX = {501, 505}  # not implemented, version not supported: the same next time
# Transient by nature; `ProtocolError` covers a connection dropped mid-response.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
ACCEPTED_ENCODINGS = "gzip, deflate"
"""What the loader asks for and decodes itself (each checked for its own end)."""


class _RetryableStatusError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} {response.reason_phrase}")
        self.response = response


class _ResponseReader(io.RawIOBase):
    """A file-like view of a streamed response body, as it came over the wire (not decoded)."""

    def __init__(self, response: httpx.Response, name: str) -> None:
        self._chunks = response.iter_raw()
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
    request = client.build_request("GET", url, headers={"Accept-Encoding": ACCEPTED_ENCODINGS})
    response = client.send(request, stream=True)
    status = response.status_code
    if status in _RETRIED_STATUS or (status >= 500 and status not in _NOT_RETRIED_5XX):
        response.close()
        raise _RetryableStatusError(response)
    return response


def _transient(error: BaseException) -> bool:
    """Whether asking again may help: such a status, or a network failure (not a refused certificate)."""
    if isinstance(error, _RetryableStatusError):
        return True
    if not isinstance(error, _TRANSIENT):
        return False
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def _framed(headers: httpx.Headers) -> bool:
    """A body whose end the client can recognise: a length, or chunked with its last chunk."""
    return "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()


@contextmanager
def open_url(url: str, settings: Settings) -> Iterator[Opened]:
    name = redact(url)
    attempts = settings.http_retries + 1
    timeout = httpx.Timeout(settings.http_timeout)
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=settings.http_retry_wait, max=30),
            retry=retry_if_exception(_transient),
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
            raise SourceError(message) from None
        except httpx.UnsupportedProtocol as error:  # a redirect to file://, ftp://, ...: never retried
            raise SourceError(
                f"{name}: {_reason(error)}; only http:// and https:// are read (not retried)"
            ) from None
        except httpx.HTTPError as error:  # not transient: an invalid URL, a refused certificate, ...
            raise SourceError(f"{name}: {_reason(error)} (not retried)") from None
        try:
            if response.status_code >= 400:
                raise SourceError(f"{name}: HTTP {response.status_code} {response.reason_phrase}")
            headers = response.headers
            if not _framed(headers) and not settings.http_allow_unframed:
                raise SourceError(
                    f"{name}: the response has neither a Content-Length nor chunked framing, so a body "
                    "cut short could not be told from a whole one; refused (set "
                    "LOADER_HTTP_ALLOW_UNFRAMED=true to accept such a server; compressed bodies are "
                    "still checked by their trailer)"
                )
            length = headers.get("content-length", "").strip()
            size = int(length) if length.isdigit() else None
            encodings = tuple(
                coding.strip().lower()
                for coding in headers.get("content-encoding", "").split(",")
                if coding.strip()
            )
            validator = _validator(headers)

            def verify(read: int) -> None:
                if size is not None and read != size:  # pragma: no cover - h11 refuses a short body
                    raise SourceChangedError(
                        f"{name}: the source changed while it was read (read {read} of {size} bytes); "
                        "nothing was changed"
                    )
                if validator is not None:
                    _check_unchanged(client, url, name, validator)

            yield Opened(_ResponseReader(response, name), size, verify, encodings)  # type: ignore[arg-type]
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
        # The same Accept-Encoding as the GET: a server's ETag may name the encoded variant.
        response = client.head(url, headers={"Accept-Encoding": ACCEPTED_ENCODINGS})
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
