"""Progress lines for the long loops (every release rebuilt from its commit, then uploaded).

A build from a commit takes seconds to tens of seconds; with eight releases `demo` and `publish`
would otherwise sit silent for minutes. The first line says how many and roughly how long, each
step then says which one it is, n of m, and the time left at the pace so far.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

SECONDS_PER_RELEASE = 15
"""Build (hatchling, from a `git archive` of the commit), `twine check` and upload of one release,
measured on this repository's 2-core machine: 2-8 s at load average 2, ~20 s at 12 (2026-12-06)."""


def each_release(items: Sequence[T], what: str, label: str = "orm-models {}") -> Iterator[T]:
    """Yield `items`, printing `what` up front with an estimate, then a `[n/m]` line per item."""
    if not items:
        return
    total = len(items)
    estimate = total * SECONDS_PER_RELEASE
    each = f"{SECONDS_PER_RELEASE} s each"
    print(f"{what}: {total} release(s), about {_duration(estimate)} ({each})", flush=True)
    started = time.monotonic()
    for done, item in enumerate(items):
        elapsed = time.monotonic() - started
        left = f", ~{_duration(elapsed / done * (total - done))} left" if done else ""
        print(f"[{done + 1}/{total}] {label.format(item)} ({_duration(elapsed)} so far{left})", flush=True)
        yield item
    print(f"{what}: {total} release(s) done in {_duration(time.monotonic() - started)}", flush=True)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"
