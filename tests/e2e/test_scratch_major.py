"""Services on different majors at once: a real major cut in a scratch clone, then the sessions
`.ci/run` runs, plus `check` and `compat`, all green — the loader still on 2.x, the api on 3.x.

The clone gets a breaking schema change (a contract revision narrowing `organization.name`, the
model to match) and the major version bump, as `nox -s release -- major` would commit it; the
api-service moves its range to the new major, the loader-service does not. The sessions run
their real code paths (wheel builds, installs by range, the index, the matrix) with a tiny
pytest selection each, so the scenario costs CI about two minutes rather than a full suite run.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import HIGHEST_2X, ROOT, isolated_env, run
from tools.release import releases, version
from tools.release.credentials import Credentials
from tools.release.index import IndexServer

# One cheap test per package that still goes through the installed orm-models and a real database.
SELECTION = {
    "orm-models": "test_single_head or test_models_equal_migrated_schema",
    "loader-service": "test_the_shipped_sample_loads_and_prints_the_summary",
    "api-service": "test_readyz_when_the_schema_is_at_head",
    "e2e": "test_version_bump",
    # The page in Chromium against the api, which runs on the orm-models its own range admits.
    "browser": "test_the_first_page_fills_with_the_first_rows",
}
IDENTITY = "scratch-major@example.invalid"
NARROWED = 150


def _git(repo: Path, *args: str) -> str:
    result = run(["git", "-C", str(repo), *args])
    assert result.returncode == 0, result.output
    return result.output.strip()


def _cut_major(clone: Path) -> str:
    """A breaking change with its contract revision, and the major bump; committed. Returns the version."""
    models = clone / "orm-models" / "src" / "orm_models" / "people.py"
    text = models.read_text()
    original = "name: Mapped[str] = mapped_column(String(200))"
    assert text.count(original) == 1, "Organization.name moved: update this scenario's breaking change"
    models.write_text(text.replace(original, f"name: Mapped[str] = mapped_column(String({NARROWED}))"))
    head = releases.branch_heads(clone)["contract"]  # a contract revision follows the contract head
    (clone / releases.VERSIONS_DIR / "rev_9000_scratch_major.py").write_text(
        f'"""Scratch major (test only): narrow organization.name to {NARROWED} characters."""\n\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        'revision: str = "9000"\n'
        f'down_revision: str | None = "{head}"\n'
        "branch_labels = None\n"
        "depends_on = None\n\n"
        'phase = "contract"\n'
        'drops = ("organization.name",)\n'
        'unsafe_ok = {"alter_column organization.name": "test scenario: every name is short"}\n\n\n'
        "def upgrade() -> None:\n"
        f'    op.alter_column("organization", "name", type_=sa.String({NARROWED}), '
        "existing_type=sa.String(200))\n\n\n"
        "def downgrade() -> None:\n"
        f'    op.alter_column("organization", "name", type_=sa.String(200), '
        f"existing_type=sa.String({NARROWED}))\n"
    )
    new_version = version.bump(version.read(clone), "major")
    version.write(clone, new_version)
    # The api moves to the new major; the loader stays where it is.
    api = clone / "api-service" / "pyproject.toml"
    major = version.parse(new_version).major
    moved = re.sub(
        r'"orm-models(\[[a-z,]+\])?>=[0-9.]+,<[0-9]+"',
        rf'"orm-models\1>={major},<{major + 1}"',
        api.read_text(),
    )
    assert moved != api.read_text()
    api.write_text(moved)
    _git(clone, "add", "-A")
    _git(
        clone, "commit", "--quiet", "-m", f"orm-models {new_version} (scratch major); api-service moves to it"
    )
    return new_version


@pytest.fixture
def major_clone() -> Iterator[Path]:
    """A clone outside pytest's private (0700) temporary tree: run as root, pgserver starts
    PostgreSQL as the `postgres` user, which must reach the binaries in the clone's venvs."""
    scratch = Path(tempfile.mkdtemp(prefix="orm-scratch-major-"))
    scratch.chmod(0o755)
    repo = scratch / "clone"
    try:
        _git(ROOT, "clone", "--quiet", str(ROOT), str(repo))
        _git(repo, "config", "user.email", IDENTITY)
        _git(repo, "config", "user.name", "Scratch major test")
        yield repo
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.long
def test_services_on_different_majors_pass_every_session(
    major_clone: Path,
    published: dict[str, list[Path]],
    private_index: IndexServer,
    credentials: Credentials,
) -> None:
    new_version = _cut_major(major_clone)
    assert version.parse(new_version).major == 3, "the index fixture publishes a 3.0.0 for the api"
    env = isolated_env(
        ORM_INDEX_URL=private_index.url,
        UV_INDEX_PRIVATE_USERNAME=credentials.username,
        UV_INDEX_PRIVATE_PASSWORD=credentials.password,
    )
    nox = [sys.executable, "-m", "nox", "-f", str(major_clone / "noxfile.py")]

    def session(name: str, *posargs: str) -> str:
        result = run([*nox, "-s", name, "--", *posargs], cwd=major_clone, env=env)
        assert result.returncode == 0, f"nox -s {name} failed:\n{result.output[-6000:]}"
        assert credentials.password not in result.output
        return result.output

    # What .ci/run runs, `nox -s tests`: every package, each with its one or two selected tests.
    output = session("tests", "-k", " or ".join(SELECTION.values()))
    assert f"loader-service: orm-models {HIGHEST_2X} (from the index:" in output, output[-3000:]
    assert f"api-service: orm-models {new_version} (the local wheel:" in output, output[-3000:]
    assert output.count(" passed") >= len(SELECTION), output[-3000:]

    # The cut is a real major: the schema gate, from the orm-models the tests session installed.
    (cli,) = major_clone.glob(".nox/tests*orm-models*/bin/orm-models")
    baseline = major_clone / "orm-models" / "schema-baseline.json"
    gate = run([str(cli), "check", "--baseline", str(baseline), "--version", new_version, "--json"])
    assert gate.returncode == 0, gate.output
    assert '"required_bump": "major"' in gate.output, gate.output

    both = " or ".join(SELECTION[service] for service in ("loader-service", "api-service"))
    matrix = session("compat", "--", "-k", both)
    rows = [line for line in matrix.splitlines() if re.search(r"(loader|api)-service\s+\d", line)]
    print("\n".join(line for line in output.splitlines() if ": orm-models " in line), *rows, sep="\n")
    assert any("loader-service" in r and "(local wheel)" in r and "not admitted" in r for r in rows), rows
    # (lowest) or (highest): one cell when the range admits a single release on the index.
    assert any("loader-service" in r and f"{HIGHEST_2X} (" in r and "passed" in r for r in rows), rows
    assert any("api-service" in r and f"{new_version} (lowest)" in r and "passed" in r for r in rows), rows
    assert any("api-service" in r and f"{new_version} (local wheel)" in r and "passed" in r for r in rows), (
        rows
    )
    assert not any("FAILED" in r for r in rows), rows
