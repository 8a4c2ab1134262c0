"""`s3://bucket/key` sources, streamed with boto3, and rejects written next to them.

boto3 finds credentials, region and endpoint the usual way (the Lambda's role, `AWS_*`
variables, `AWS_ENDPOINT_URL_S3` for a local S3). Whole-source proof: the bytes read must be
the object's `ContentLength`, and its `ETag` at the end must be the one the GET returned.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loader_service.errors import SourceChangedError, SourceError
from loader_service.redaction import redact
from loader_service.sources.transport import Opened

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

    return boto3.client("s3")


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
    size, etag = response["ContentLength"], response["ETag"]
    body = response["Body"]

    def verify(read: int) -> None:
        try:
            now = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        except (BotoCoreError, ClientError) as error:
            raise _failure(name, error) from None
        if read != size or now != etag:
            raise SourceChangedError(
                f"{name}: the source changed while it was read (read {read} of {size} bytes; "
                f"ETag {etag} when opened, {now} at the end); nothing was changed"
            )

    try:
        yield Opened(body, size, verify)  # type: ignore[arg-type]
    finally:
        body.close()


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
