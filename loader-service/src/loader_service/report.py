"""What a run tells its user: a progress bar on a terminal, logfmt/JSON log lines otherwise, a summary."""

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from loader_service.logs import event, formatter, install_scrubbing

log = logging.getLogger("loader_service")


@dataclass(frozen=True)
class Summary:
    """The outcome of one successful run."""

    source: str
    mode: str
    read: int
    inserted: int
    updated: int
    deleted: int
    rejected: int
    organizations_inserted: int
    organizations_updated: int
    seconds: float
    rejects_file: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}

    def line(self) -> str:
        text = (
            f"{self.mode} of {self.source}: read {self.read}, inserted {self.inserted}, "
            f"updated {self.updated}, deleted {self.deleted}, rejected {self.rejected} "
            f"in {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s); organizations: "
            f"{self.organizations_inserted} inserted, {self.organizations_updated} updated"
        )
        if self.rejects_file:
            text += f"; rejects in {self.rejects_file}"
        return text


class ProgressReporter(Protocol):
    def start(
        self,
        name: str,
        total_bytes: int | None,
        bytes_read: Callable[[], int],
        decompressed: Callable[[], int | None] | None = None,
    ) -> None: ...
    def update(self, records: int) -> None: ...
    def tick(self) -> None:
        """Bytes were read (no record may have come out of them: blank lines, a bomb)."""

    def phase(self, name: str) -> None: ...
    def step(self, name: str, number: int, total: int) -> None: ...
    def close(self) -> None: ...


class LogProgress:
    """A `event=progress` line every `interval` seconds: what cron, CI and CloudWatch want."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._bytes_read: Callable[[], int] = lambda: 0
        self._total: int | None = None
        self._records = 0
        self._started = self._last = time.monotonic()
        self._decompressed: Callable[[], int | None] = lambda: None

    def start(
        self,
        name: str,
        total_bytes: int | None,
        bytes_read: Callable[[], int],
        decompressed: Callable[[], int | None] | None = None,
    ) -> None:
        self._bytes_read, self._total = bytes_read, total_bytes
        self._decompressed = decompressed or (lambda: None)
        self._started = self._last = time.monotonic()
        event(log.info, "start", source=name, bytes=total_bytes if total_bytes is not None else "unknown")

    def update(self, records: int) -> None:
        self._records = records
        self.tick()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        done = self._bytes_read()
        fields: dict[str, object] = {"records": self._records, "bytes": done}
        decompressed = self._decompressed()
        if decompressed is not None:
            fields["decompressed_bytes"] = decompressed
        if self._total:
            fields["percent"] = round(100 * done / self._total, 1)
        rate = self._records / (now - self._started) if now > self._started else 0.0
        event(log.info, "progress", **fields, rows_per_s=round(rate))

    def phase(self, name: str) -> None:
        event(log.info, "phase", name=name, elapsed_s=round(time.monotonic() - self._started, 2))

    def step(self, name: str, number: int, total: int) -> None:
        event(log.info, "merge_progress", step=name, number=number, of=total)

    def close(self) -> None:
        pass


class BarProgress:
    """A rich progress bar over the source's bytes (a spinner when the size is unknown)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[records]:>12,} records"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._bytes_read: Callable[[], int] = lambda: 0
        self._task = self._progress.add_task("reading", total=None, records=0, start=False)

    def start(
        self,
        name: str,
        total_bytes: int | None,
        bytes_read: Callable[[], int],
        decompressed: Callable[[], int | None] | None = None,
    ) -> None:
        self._bytes_read = bytes_read
        self._progress.update(self._task, total=total_bytes, description=f"reading {name}")
        self._progress.start_task(self._task)
        self._progress.start()

    def update(self, records: int) -> None:
        self._progress.update(self._task, completed=self._bytes_read(), records=records)

    def tick(self) -> None:
        self._progress.update(self._task, completed=self._bytes_read())

    def phase(self, name: str) -> None:
        self._progress.update(self._task, description=name)

    def step(self, name: str, number: int, total: int) -> None:
        # The merge has no byte count: the bar shows which of its steps runs (counts are logged).
        self._progress.update(self._task, description=f"merging {number}/{total}: {name}")

    def close(self) -> None:
        self._progress.stop()


_console: Console | None = None


def _stderr_console() -> Console:
    # One console for the bar and the log lines, so rich draws the lines above the bar.
    global _console
    if _console is None:
        _console = Console(file=sys.stderr)
    return _console


def progress_for(interval: float) -> ProgressReporter:
    """A bar when stderr is a terminal, log lines otherwise."""
    if sys.stderr.isatty():
        return BarProgress(_stderr_console())
    return LogProgress(interval)


THIRD_PARTY = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "s3transfer")
_THIRD_PARTY_LEVEL = {0: logging.WARNING, 1: logging.INFO}
"""Their level per verbosity: their DEBUG lines (signed headers, tokens) only with -vv."""


def configure_logging(verbose: int = 0, log_format: str = "logfmt") -> None:
    """logfmt (or JSON) lines on stderr; on a terminal rich renders them above the progress bar.

    `verbose`: 0 our INFO lines; 1 (-v) our DEBUG lines and the libraries' INFO lines (httpx's
    request lines); 2 (-vv) the libraries' DEBUG lines too. Under a host that configured logging
    already (Lambda's runtime, pytest) its handlers and format stay; every record is scrubbed of
    secrets either way (`redaction.scrub`), at every verbosity.
    """
    install_scrubbing()
    for noisy in THIRD_PARTY:
        logging.getLogger(noisy).setLevel(_THIRD_PARTY_LEVEL.get(int(verbose), logging.DEBUG))
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    if root.handlers:  # already configured by the host (tests, Lambda's runtime)
        root.setLevel(level)
        return
    handler: logging.Handler
    if sys.stderr.isatty() and log_format != "json":
        from rich.logging import RichHandler

        handler = RichHandler(console=_stderr_console(), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
