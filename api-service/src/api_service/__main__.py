"""`api-service` (or `python -m api_service`): serve the API with uvicorn, per the settings.

The flags override API_HOST, API_PORT, API_WORKERS and API_LOG_LEVEL. Every other setting is an
environment variable; a missing or invalid one stops it with one line naming the variable, exit
status 2, before anything starts.

Every setting, the endpoints and how to run it: api-service/README.md in the repository.
"""

import argparse
import os
import shutil
import sys
import tempfile
from importlib.metadata import version

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="api-service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"api-service {version('api-service')}")
    parser.add_argument("--host", help="address to bind (API_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (API_PORT, default 8000)")
    parser.add_argument("--workers", type=int, help="worker processes (API_WORKERS, default 2)")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        help="API_LOG_LEVEL, default info",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    overrides = {
        f"API_{name.upper()}": str(value)
        for name, value in vars(arguments).items()
        if value is not None and name != "version"
    }
    # Through the environment, so the workers (separate processes) and the checks see the same.
    os.environ.update(overrides)
    # Imported here, not at the top: pydantic and SQLAlchemy take seconds on a busy machine, and
    # `--help`/`--version` (answered by parse_args above) need neither.
    from api_service.config import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"api-service: {exc}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None

    metrics_dir = None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # The workers add up their metrics through files here; fresh per run, removed on exit.
        metrics_dir = tempfile.mkdtemp(prefix="api-service-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    import uvicorn

    from api_service import logs

    logs.configure(settings)
    try:
        uvicorn.run(
            "api_service.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            log_config=None,  # logs.configure's handler, in this process and in each worker
            access_log=False,  # the app logs one line per request itself, with duration and id
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
