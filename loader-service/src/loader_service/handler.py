"""AWS Lambda entry point: `loader_service.handler.handler`.

The event carries the run's options (`source` required; `format`, `mode`, `max_errors`,
`lock_timeout`, `rejects` optional), the environment the settings (`DATABASE_URL`,
`LOADER_*`). A failed run raises, so Lambda records the invocation as failed (and retries or
alerts as configured); a successful one returns the summary.
"""

from pathlib import Path
from typing import Any

from loader_service import __version__
from loader_service.config import Settings, get_settings
from loader_service.report import LogProgress, configure_logging
from loader_service.run import RunOptions, default_rejects_path, run_load

# Lambda's file system is read-only except /tmp.
REJECTS_DIR = Path("/tmp")  # noqa: S108 - Lambda's only writable directory, by design


def handler(event: dict[str, Any], context: object, settings: Settings | None = None) -> dict[str, object]:
    """Run one load described by `event`; return the summary as a dict."""
    configure_logging()
    settings = settings or get_settings()
    source = event.get("source") or settings.source
    if not source:
        raise ValueError("name a 'source' (path or URL) in the event or in LOADER_SOURCE")
    rejects = event.get("rejects")
    options = RunOptions(
        source=str(source),
        format=event.get("format"),
        mode=event.get("mode", settings.mode),
        rejects=Path(rejects) if rejects else default_rejects_path(str(source), REJECTS_DIR),
        max_errors=event.get("max_errors"),
        lock_timeout=event.get("lock_timeout"),
    )
    summary = run_load(settings, options, LogProgress(settings.progress_interval))
    # Which release ran: the loader is deployed on its own schedule, apart from the api and orm-models.
    return {**summary.as_dict(), "service": "loader-service", "service_version": __version__}
