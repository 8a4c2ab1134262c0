"""A Chromium for the browser tests, found or installed: `python -m tools.chromium` prints its path.

In order:
1. `CHROMIUM` (a path), or `chromium` / `chromium-browser` on PATH: used as is.
2. Debian's package, when this process can install it (root, `apt-get` present):
   `apt-get install chromium` (after `apt-get update` when the lists do not know it). Debian's
   mirrors are reachable wherever its packages are, CI machines included.
3. Playwright's own Chromium, when its download is reachable (probed with a short timeout):
   `python -m playwright install chromium`.
4. Otherwise one line on stderr saying exactly what to install, and exit status 1.

`plan()` decides from what it is given, so the tests can show each branch on any machine; `main()`
carries the plan out. Run with the interpreter that has Playwright (the browser session's venv).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

NAMES = ("chromium", "chromium-browser")
MISSING = (
    "no Chromium for the browser tests: install Debian's package (`sudo apt-get install chromium`), "
    "or Playwright's (`python -m playwright install chromium`), or set CHROMIUM=/path/to/chromium"
)
_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Plan:
    """What to do: `use` a path, `apt` (install Debian's package), `playwright`, or `fail`."""

    action: str
    path: str | None = None


def plan(
    environ: Mapping[str, str],
    which: Callable[[str], str | None],
    is_root: bool,
    playwright_reachable: Callable[[], bool],
) -> Plan:
    """The first route that works here; `playwright_reachable` is only called when it matters."""
    found = environ.get("CHROMIUM") or next((p for p in map(which, NAMES) if p), None)
    if found:
        return Plan("use", found)
    if is_root and which("apt-get"):
        return Plan("apt")
    if playwright_reachable():
        return Plan("playwright")
    return Plan("fail")


def _run(command: list[str]) -> bool:
    print(f"chromium: {' '.join(command)}", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False).returncode == 0


def install_from_debian() -> bool:
    # Another process (a parallel run) may hold dpkg's lock: wait for it rather than fail.
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-qq"]
    known = subprocess.run(
        ["apt-cache", "policy", "chromium"], capture_output=True, text=True, check=False
    ).stdout
    if "Candidate: (none)" in known or "Candidate:" not in known:
        _run([*apt, "update"])
    return _run([*apt, "install", "--no-install-recommends", "chromium"])


def playwright_download_reachable() -> bool:
    """Whether Playwright's Chromium download answers (its URL as Playwright states it)."""
    try:
        dry_run = subprocess.run(
            [sys.executable, "-m", "playwright", "install", "--dry-run", "chromium"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    urls = re.findall(r"Download url:\s*(\S+)", dry_run)
    for url in urls[:1]:
        try:
            request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - Playwright's own URL
            with urllib.request.urlopen(request, timeout=_PROBE_TIMEOUT):  # noqa: S310
                return True
        except OSError:
            return False
    return False


def install_from_playwright() -> str | None:
    if not _run([sys.executable, "-m", "playwright", "install", "chromium"]):
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        return driver.chromium.executable_path


def provide() -> str | None:
    """A Chromium's path, installing one if this machine allows; None (and the line printed) if not."""
    route = plan(os.environ, shutil.which, os.geteuid() == 0, playwright_download_reachable)
    path: str | None = route.path
    if route.action == "apt":
        path = shutil.which("chromium") if install_from_debian() else None
        if path is None and playwright_download_reachable():
            path = install_from_playwright()
    elif route.action == "playwright":
        path = install_from_playwright()
    if path is None:
        print(MISSING, file=sys.stderr)
    return path


def main() -> int:
    path = provide()
    if path is None:
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
