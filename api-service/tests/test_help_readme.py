"""`api-service --help` points at a README that the repository really holds."""

import re
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_help_names_the_service_readme() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "api-service"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    named = re.findall(r"[\w./-]+README\.md", result.stdout)
    assert named == ["api-service/README.md"], result.stdout
    assert (REPOSITORY / named[0]).is_file()
