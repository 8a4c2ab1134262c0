"""`loader-service` console script: `run` (once or `--every`), `generate`, `sample`."""

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

# Only what the parser needs is imported here: `--help` and `--version` answer in a fraction of
# a second. The database stack (SQLAlchemy, orm-models, psycopg2), pydantic and rich are
# imported by the functions that use them.
from loader_service import __version__
from loader_service.choices import FORMATS, LOAD_PATHS, MODES
from loader_service.errors import EXIT_OK, LoaderError, SettingsError
from loader_service.limits import DEFAULT_MAX_DELETE, DeleteLimit
from loader_service.schedule import every, parse_duration

if TYPE_CHECKING:
    from loader_service.config import Settings
    from loader_service.run import RunOptions

log = logging.getLogger("loader_service")


def sample_path() -> Path:
    """The sample source shipped in the package, for the demo."""
    return Path(str(files("loader_service") / "samples" / "people.csv"))


def _failed(error: LoaderError, as_json: bool) -> int:
    """One line on stderr; with --json also one JSON object on stdout. LoaderError text is scrubbed."""
    print(f"loader-service: {error}", file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": str(error), "exit_code": error.exit_code}))
    return error.exit_code


def _run_once(settings: "Settings", options: "RunOptions", as_json: bool) -> int:
    from loader_service.logs import event
    from loader_service.report import progress_for
    from loader_service.run import run_load

    try:
        summary = run_load(settings, options, progress_for(settings.progress_interval))
    except LoaderError as error:
        event(log.error, "failed", reason=str(error))
        return _failed(error, as_json)
    except Exception as error:  # a library's surprise (or our bug): one line still; -v logs the traceback
        log.debug("unexpected failure", exc_info=True)
        failure = LoaderError(f"unexpected {type(error).__name__}: {error}; nothing was changed")
        event(log.error, "failed", reason=str(failure))
        return _failed(failure, as_json)
    print(json.dumps({"ok": True, **summary.as_dict()}) if as_json else f"loader-service: {summary.line()}")
    return EXIT_OK


def _run(arguments: argparse.Namespace) -> int:
    from loader_service.config import get_settings
    from loader_service.run import RunOptions

    try:
        settings = get_settings()
    except LoaderError as error:
        return _failed(error, arguments.json)
    options = RunOptions(
        source=arguments.source,
        format=arguments.format,
        mode=arguments.mode,
        rejects=arguments.rejects,
        max_errors=arguments.max_errors,
        lock_timeout=arguments.lock_timeout,
        max_delete=arguments.max_delete,
        load_path=arguments.path,
    )
    if arguments.every is None:
        return _run_once(settings, options, arguments.json)
    return every(arguments.every, lambda: _run_once(settings, options, arguments.json), arguments.runs)


def _generate(arguments: argparse.Namespace) -> int:
    from loader_service.generate import generate
    from loader_service.report import progress_for

    progress = progress_for(arguments.report.progress_interval)
    output: Path = arguments.output
    progress.start(str(output), None, lambda: output.stat().st_size if output.exists() else 0)
    progress.phase(f"writing {arguments.rows:,} records")
    try:
        generate(
            arguments.output,
            arguments.rows,
            seed=arguments.seed,
            variant=arguments.variant,
            start=arguments.start,
            on_progress=progress.update,
        )
    finally:
        progress.close()
    print(f"loader-service: wrote {arguments.rows} records to {arguments.output}")
    return EXIT_OK


def _sample(arguments: argparse.Namespace) -> int:
    print(sample_path())
    return EXIT_OK


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _max_delete(text: str) -> str:
    try:
        return str(DeleteLimit.parse(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


_json_requested = False
"""Whether the command line asked for --json (known before argparse has parsed it)."""


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (and one JSON object with --json), like every other failure."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("loader-service").strip()  # "run", "generate", or none
        failure = SettingsError(f"{command + ': ' if command else ''}{message} (see --help)")
        _failed(failure, _json_requested)
        sys.exit(failure.exit_code)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="loader-service",
        description=__doc__,
        # Raw: the default formatter would break the README's path at its hyphen.
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Every setting, the exit statuses and the Lambda event:\n"
        "loader-service/README.md in the repository.",
    )
    parser.add_argument("--version", action="version", version=f"loader-service {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="debug logging; -vv: the libraries' debug lines too",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="load a source into the database (DATABASE_URL)")
    run.add_argument("--source", required=True, help="local path or http(s) URL; .gz is decompressed")
    run.add_argument("--format", choices=FORMATS, help="default: from the source's suffix")
    run.add_argument(
        "--mode",
        choices=MODES,
        default="sync",
        help="sync: upsert and delete people the source no longer has (default); append: upsert only",
    )
    run.add_argument(
        "--rejects", type=Path, help="where invalid records go (default: ./<source>.rejects.jsonl)"
    )
    run.add_argument(
        "--max-errors",
        type=_non_negative,
        help="invalid records tolerated before the run aborts (default: LOADER_MAX_ERRORS or 0)",
    )
    run.add_argument(
        "--max-delete",
        type=_max_delete,
        help=f"most people a sync may delete: a share of the table (20%%) or a count (500); "
        f"more refuses the run (default: LOADER_MAX_DELETE or {DEFAULT_MAX_DELETE.replace('%', '%%')})",
    )
    run.add_argument(
        "--lock-timeout",
        type=float,
        help="seconds to wait while another run holds the lock (default: LOADER_LOCK_TIMEOUT or 0)",
    )
    run.add_argument(
        "--path",
        choices=LOAD_PATHS,
        default="auto",
        help="bulk: build the next table without indexes and swap it in; merge: write changed rows; "
        "auto (default): bulk when the estimated share of rows changed reaches LOADER_BULK_SHARE",
    )
    run.add_argument("--every", type=_duration, help="run on a schedule, e.g. 15m, 1h30m (until SIGTERM)")
    run.add_argument("--runs", type=_non_negative, help="with --every: stop after this many runs")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_run)

    generate = commands.add_parser("generate", help="write a synthetic source of any size")
    generate.add_argument("--rows", type=_non_negative, required=True)
    generate.add_argument("--output", type=Path, required=True, help=".csv, .jsonl, optionally .gz")
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--start", type=_non_negative, default=0, help="first person number")
    generate.add_argument("--variant", default="", help="suffix for family names (a changed dataset)")
    generate.set_defaults(handler=_generate)

    sample = commands.add_parser("sample", help="print the path of the sample source shipped for the demo")
    sample.set_defaults(handler=_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loader-service` console script."""
    global _json_requested
    _json_requested = "--json" in (sys.argv[1:] if argv is None else argv)
    arguments = _parser().parse_args(argv)
    if arguments.handler is _run:
        # Before logging is configured, as when this was imported at the top of the module:
        # Alembic (under orm-models) logs its plugin set-up at INFO when it is imported.
        import loader_service.run  # noqa: F401
    from pydantic import ValidationError

    from loader_service.config import ReportSettings, settings_problems
    from loader_service.report import configure_logging

    try:
        arguments.report = ReportSettings()
    except ValidationError as error:
        return _failed(SettingsError(settings_problems(error)), getattr(arguments, "json", False))
    configure_logging(arguments.verbose, arguments.report.log_format)
    return int(arguments.handler(arguments))


if __name__ == "__main__":
    sys.exit(main())
