"""Each service is released on its own: its version has a section in its own CHANGELOG."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.e2e.helpers import ROOT


@pytest.mark.parametrize("service", ["loader-service", "api-service"])
def test_the_service_version_has_a_changelog_section(service: str) -> None:
    version = tomllib.loads((ROOT / service / "pyproject.toml").read_text())["project"]["version"]
    changelog = (ROOT / service / "CHANGELOG.md").read_text()

    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.MULTILINE)
    # The project's own version in its lock, or `uv sync --locked` refuses to build the image.
    lock = (ROOT / service / "uv.lock").read_text()
    assert f'name = "{service}"\nversion = "{version}"\nsource = {{ editable = "." }}' in lock
