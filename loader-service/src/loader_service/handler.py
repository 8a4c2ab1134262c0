"""AWS Lambda entry point: `loader_service.handler.handler`.

The event carries the run's options (see `event.LambdaEvent`: `source`, `format`, `mode`,
`max_errors`, `max_delete`, `lock_timeout`, `rejects`), the environment the settings
(`DATABASE_URL`, `LOADER_*`). A failed run raises, so Lambda records the invocation as failed
(and retries or alerts as configured); a successful one returns the summary.

Rejects never stay only in the Lambda's `/tmp`: for an `s3://` source they are uploaded next
to it (`people.rejects.jsonl`), otherwise each is logged in full (CloudWatch keeps it).
"""

import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import Any

from loader_service import __version__
from loader_service.config import Settings, get_settings
from loader_service.errors import SourceError
from loader_service.event import parse_event
from loader_service.logs import event as log_event
from loader_service.redaction import redact
from loader_service.report import LogProgress, configure_logging
from loader_service.run import RunOptions, run_load

log = logging.getLogger("loader_service")


def handler(event: dict[str, Any], context: object, settings: Settings | None = None) -> dict[str, object]:
    """Run one load described by `event`; return the summary as a dict."""
    options = parse_event(event)  # before the settings: a bad event is the caller's problem
    settings = settings or get_settings()
    configure_logging(log_format=settings.log_format)
    source = options.source or settings.source
    if not source:
        raise SourceError("name a 'source' (path or URL) in the event or in LOADER_SOURCE")
    upload_to = options.rejects if options.rejects and options.rejects.startswith("s3://") else None
    if upload_to is None and source.startswith("s3://") and not options.rejects:
        from loader_service.sources.s3 import beside

        upload_to = beside(source, ".rejects.jsonl")
    with tempfile.TemporaryDirectory(prefix="loader-rejects-") as scratch:  # Lambda: under /tmp
        local = Path(scratch) / "rejects.jsonl" if upload_to else None
        run_options = RunOptions(
            source=source,
            format=options.format,
            mode=options.mode or settings.mode,
            rejects=local or (Path(options.rejects) if options.rejects else None),
            max_errors=options.max_errors,
            max_delete=options.max_delete,
            lock_timeout=options.lock_timeout,
            log_rejects=not options.rejects and not upload_to,
        )
        try:
            summary = run_load(settings, run_options, LogProgress(settings.progress_interval))
        finally:
            if local is not None and upload_to is not None and local.exists():
                _keep(local, upload_to)
    if summary.rejects_file and upload_to:
        summary = dataclasses.replace(summary, rejects_file=redact(upload_to))
    # Which release ran: the loader is deployed on its own schedule, apart from the api and orm-models.
    return {**summary.as_dict(), "service": "loader-service", "service_version": __version__}


def _keep(local: Path, destination: str) -> None:
    """Upload the rejects file; if S3 refuses, log every reject so none is lost with `/tmp`."""
    from loader_service.sources.s3 import upload

    try:
        upload(local, destination)
    except SourceError as error:
        log_event(log.error, "rejects_upload_failed", reason=str(error))
        with local.open(encoding="utf-8") as lines:
            for line in lines:
                log_event(log.warning, "reject", line=line.rstrip("\n"))
        return
    log_event(log.info, "rejects_uploaded", location=redact(destination))
