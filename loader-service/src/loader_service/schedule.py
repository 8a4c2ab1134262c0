"""`--every DURATION`: run, wait, run again, until SIGTERM/SIGINT (or `--runs` runs)."""

import logging
import re
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from loader_service.errors import EXIT_FAILED
from loader_service.logs import event

log = logging.getLogger(__name__)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in `90`, `30s`, `15m`, `1h30m`, `1d`, `250ms`; ValueError otherwise."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    elif text and _PART.sub("", text) == "":
        seconds = sum(float(amount) * _UNITS[unit] for amount, unit in _PART.findall(text))
    else:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 1h30m)")
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    return seconds


def every(interval: float, job: Callable[[], int], runs: int | None = None) -> int:
    """Call `job` every `interval` seconds (start to start) and return the last exit status.

    A failed run is logged and the schedule goes on: the next run may well succeed (the source
    is fixed, the database is back). A run never overlaps the previous one.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        event(log.info, "schedule_stop", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    count = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = job()
            except Exception:  # an unexpected failure: log it, the next run may well succeed
                event(log.exception, "run_failed", reason="unexpected_error")
                status = EXIT_FAILED
            count += 1
            if runs is not None and count >= runs:
                break
            wait = max(0.0, interval - (time.monotonic() - started))
            event(log.info, "schedule_wait", seconds=round(wait, 1))
            stop.wait(wait)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
