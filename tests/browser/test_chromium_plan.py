"""Where the browser tests get Chromium from, on machines unlike this one (tools/chromium.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.conftest import ROOT
from tools import chromium
from tools.chromium import Plan, plan


def _never() -> bool:
    raise AssertionError("the download was probed although an earlier route applies")


def _which(*present: str) -> Callable[[str], str | None]:
    return lambda name: f"/usr/bin/{name}" if name in present else None


def test_a_chromium_on_path_is_used_as_is() -> None:
    assert plan({}, _which("chromium", "apt-get"), True, _never) == Plan("use", "/usr/bin/chromium")


def test_chromium_env_wins() -> None:
    assert plan({"CHROMIUM": "/opt/c/chrome"}, _which("chromium"), False, _never) == Plan(
        "use", "/opt/c/chrome"
    )


def test_root_with_apt_installs_debians_package() -> None:
    assert plan({}, _which("apt-get"), True, _never) == Plan("apt")


@pytest.mark.parametrize(("is_root", "tools"), [(False, ("apt-get",)), (True, ())])
def test_without_apt_rights_playwrights_own_when_reachable(is_root: bool, tools: tuple[str, ...]) -> None:
    assert plan({}, _which(*tools), is_root, lambda: True) == Plan("playwright")


def test_nothing_reachable_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    assert plan({}, _which(), False, lambda: False) == Plan("fail")
    # The real command, as a user without root and without Chromium on PATH runs it; the
    # download probe is pointed at a closed port so the answer does not depend on the network.
    env = {"PATH": "/nonexistent", "PLAYWRIGHT_DOWNLOAD_HOST": "http://127.0.0.1:9", "HOME": str(tmp_path)}
    code = "import os, tools.chromium as c; os.geteuid = lambda: 1000; raise SystemExit(c.main())"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [chromium.MISSING]
