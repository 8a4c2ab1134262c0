"""`s3://bucket/key` sources, streamed with boto3, and rejects written next to them.

boto3 finds credentials, region and endpoint the usual way (the Lambda's role, `AWS_*`
variables, `AWS_ENDPOINT_URL_S3` for a local S3). Whole-source proof: the bytes read must be
the object's `ContentLength` (botocore refuses a shorter body), and just before the commit the
object's current `ETag` and, in a versioned bucket, `VersionId` must be the ones the GET
returned: an object replaced mid-read is refused. A body that breaks off is a one-line error.
"""

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loader_service.errors import SourceChangedError, SourceError
from loader_service.redaction import redact, remember
from loader_service.sources.opened import Opened

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def split(url: str) -> tuple[str, str]:
    """`s3://bucket/a/b.csv` -> (`bucket`, `a/b.csv`); SourceError when either is missing."""
    parts = urlsplit(url)
    bucket, key = parts.netloc.rsplit("@", 1)[-1], parts.path.lstrip("/")
    if not bucket or not key:
        raise SourceError(f"{redact(url)}: an S3 source is s3://bucket/key")
    return bucket, key


def client() -> "S3Client":
    import boto3

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is not None:  # masked in every output, botocore's debug lines included
        frozen = credentials.get_frozen_credentials()
        remember(frozen.secret_key, frozen.token)
    return session.client("s3")


class _Body(io.RawIOBase):
    """The object's body; a connection that breaks off is a `SourceError`, not botocore's traceback."""

    def __init__(self, body: object, name: str) -> None:
        self._body, self._name = body, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = self._body.read(len(buffer))  # type: ignore[attr-defined]
        except (BotoCoreError, OSError) as error:
            raise SourceError(
                f"{self._name}: connection lost while reading: {type(error).__name__}: {error}"
            ) from None
        except Exception as error:  # urllib3's ProtocolError and kin, not wrapped by botocore
            if type(error).__module__.split(".")[0] not in ("urllib3", "botocore", "http"):
                raise
            raise SourceError(
                f"{self._name}: connection lost while reading: {type(error).__name__}"
            ) from None
        size = len(data)
        buffer[:size] = data
        return size


def _failure(name: str, error: Exception) -> SourceError:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        reason = {
            "NoSuchKey": "no such object",
            "404": "no such object",
            "NoSuchBucket": "no such bucket",
            "AccessDenied": "access denied",
            "403": "access denied",
        }.get(code, f"S3 error {code or 'unknown'}")
        return SourceError(f"{name}: {reason}")
    if isinstance(error, BotoCoreError):
        return SourceError(f"{name}: cannot read from S3: {type(error).__name__}")
    raise error


@contextmanager
def open_s3(url: str) -> Iterator[Opened]:
    from botocore.exceptions import BotoCoreError, ClientError

    name = redact(url)
    bucket, key = split(url)
    s3 = client()
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError) as error:
        raise _failure(name, error) from None
    size, seen = response["ContentLength"], _version(response)
    body = response["Body"]

    def verify(read: int) -> None:
        try:
            now = _version(s3.head_object(Bucket=bucket, Key=key))
        except (BotoCoreError, ClientError) as error:
            raise _failure(name, error) from None
        if read != size or now != seen:
            raise SourceChangedError(
                f"{name}: the source changed while it was read (read {read} of {size} bytes; "
                f"{_shown(seen)} when opened, {_shown(now)} at the end); nothing was changed"
            )

    try:
        yield Opened(_Body(body, name), size, verify)  # type: ignore[arg-type]
    finally:
        body.close()


def _version(response: Mapping[str, Any]) -> tuple[str, str | None]:
    """What names this version of the object: its ETag and, in a versioned bucket, its VersionId."""
    return str(response.get("ETag")), response.get("VersionId")


def _shown(version: tuple[str, str | None]) -> str:
    etag, version_id = version
    return f"ETag {etag}" + (f" version {version_id}" if version_id else "")


def upload(path: Path, url: str) -> None:
    """Copy a local file to `s3://bucket/key` (rejects next to their source)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split(url)
    try:
        client().upload_file(str(path), bucket, key)
    except (BotoCoreError, ClientError) as error:
        raise _failure(redact(url), error) from None


def beside(source: str, suffix: str) -> str:
    """`s3://b/dir/people.csv.gz` -> `s3://b/dir/people<suffix>`."""
    bucket, key = split(source)
    directory, _, name = key.rpartition("/")
    for ending in (".gz", ".csv", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(ending)
    return f"s3://{bucket}/{directory + '/' if directory else ''}{name}{suffix}"
