"""Session fixtures: each distinct wheel is built once, each index started once per run.

Two indexes on free loopback ports:
- "private": pypiserver with htpasswd auth on update, download and list, holding every recorded
  orm-models release, plus a 3.0.0 built from HEAD, uploaded by our publish code
  with real twine. Names it does not
  hold are redirected to the hostile index (its fallback), as pypiserver does with the public one.
- "hostile": an anonymous pypiserver standing in for the public index; it holds a higher
  `orm-models` 2.99.0 and redirects everything else to the real public index.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.helpers import RECORDED, ROOT, run, uv_bin
from tools.release import build, releases
from tools.release.credentials import Credentials, Target
from tools.release.index import IndexServer
from tools.release.publish import publish

# `create_database` and friends for the tests that need PostgreSQL (the Lambda package's run).
pytest_plugins = ["orm_models.testing.fixtures"]

# Every recorded release (the concurrent-writers scenario installs 1.0.0 too), and a 3.0.0.
PUBLISHED = (*RECORDED, "3.0.0")
HOSTILE_VERSION = "2.99.0"


def _build_from_head(work: Path, version: str, tweak: str = "") -> list[Path]:
    """orm-models as committed at HEAD, with its version set to `version` (and `tweak` appended)."""
    source = work / f"src-{version}-{len(tweak)}"
    project = build.export(ROOT, "HEAD", source)
    about = project / "src" / "orm_models" / "__about__.py"
    text = re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', about.read_text())
    about.write_text(text + tweak)
    out = work / f"dist-{version}-{len(tweak)}"
    result = run([uv_bin(), "build", "--quiet", "--sdist", "--wheel", "--out-dir", str(out), str(project)])
    assert result.returncode == 0, result.output
    return [out / name for name in build.expected_names(version)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first `long` scenario first, the other `long` ones last, the short tests between.

    Under xdist's worksteal (noxfile.py's PARALLEL) the collection is cut in one contiguous half
    per worker and an idle worker steals from the end of a busy one's queue: so one worker starts
    on the longest scenario while the other takes the short tests and then the remaining long
    ones, instead of those queueing behind the first. Only the order changes: each test still
    sets up everything it uses. In one process the order is immaterial.
    """
    long = [item for item in items if item.get_closest_marker("long")]
    if long:
        short = [item for item in items if not item.get_closest_marker("long")]
        items[:] = [long[0], *short, *long[1:]]


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Wheel + sdist per version: recorded releases from their commits, later ones from HEAD.

    Built once per run: under xdist the first worker builds them into the run's common directory
    (above each worker's own) while the others wait on its lock, then all read the same files.
    Tests only read them, as they would within one worker.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    built_list = shared / "e2e-dists.json"
    with (shared / "e2e-dists.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if built_list.exists():
            listed = json.loads(built_list.read_text())
            return {number: [Path(name) for name in names] for number, names in listed.items()}
        work = Path(tempfile.mkdtemp(prefix="e2e-dists-", dir=shared))
        recorded = {release.version: release.commit for release in releases.load(ROOT)}

        def one(number: str) -> list[Path]:
            if number in recorded:
                return build.build(ROOT, recorded[number], work / "dist", uv_bin(), work)
            return _build_from_head(work, number)

        # Two at a time: each build has its own export and file names; the other workers wait.
        with ThreadPoolExecutor(max_workers=2) as pool:
            built = dict(zip(PUBLISHED, pool.map(one, PUBLISHED), strict=True))
        built_list.write_text(json.dumps({number: list(map(str, files)) for number, files in built.items()}))
        return built


@pytest.fixture(scope="session")
def conflicting_dists(work: Path) -> list[Path]:
    """2.1.0 again, with different content: what a careless rebuild of a published version gives."""
    return _build_from_head(work, "2.1.0", tweak="# rebuilt with a change\n")


@pytest.fixture(scope="session")
def hostile_index(work: Path) -> Iterator[IndexServer]:
    project = work / "hostile"
    (project / "src" / "orm_models").mkdir(parents=True)
    (project / "src" / "orm_models" / "__init__.py").write_text("HOSTILE = True\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "orm-models"\nversion = "{HOSTILE_VERSION}"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/orm_models"]\n'
    )
    packages = work / "hostile-packages"
    result = run([uv_bin(), "build", "--quiet", "--wheel", "--out-dir", str(packages), str(project)])
    assert result.returncode == 0, result.output
    with IndexServer(packages=packages, credentials=None, log=work / "hostile.log") as server:
        yield server


@pytest.fixture(scope="session")
def credentials() -> Credentials:
    return Credentials("publisher", secrets.token_urlsafe(18))


@pytest.fixture(scope="session")
def private_index(work: Path, credentials: Credentials, hostile_index: IndexServer) -> Iterator[IndexServer]:
    server = IndexServer(
        packages=work / "private-packages",
        credentials=credentials,
        htpasswd=work / "htpasswd",
        fallback_url=hostile_index.simple_url,
        log=work / "private.log",
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def target(private_index: IndexServer, credentials: Credentials) -> Target:
    return Target(private_index.url, private_index.simple_url, credentials)


@pytest.fixture(scope="session")
def published(dists: dict[str, list[Path]], target: Target) -> dict[str, list[Path]]:
    """Every version in PUBLISHED on the private index, uploaded with twine by our publish code."""
    for files in dists.values():
        publish(files, target)
    return dists


@pytest.fixture
def service_copy(tmp_path: Path, private_index: IndexServer) -> dict[str, Path]:
    """Each service's project files, with the "private" index URL moved to this run's port."""
    copies: dict[str, Path] = {}
    for service in ("loader-service", "api-service"):
        copy = tmp_path / service
        shutil.copytree(
            ROOT / service,
            copy,
            ignore=shutil.ignore_patterns(".venv", "uv.lock", "__pycache__", "tests", "benchmarks"),
        )
        pyproject = copy / "pyproject.toml"
        text = pyproject.read_text()
        assert "http://127.0.0.1:8080/simple/" in text, "the documented private index URL moved"
        pyproject.write_text(text.replace("http://127.0.0.1:8080/simple/", private_index.simple_url))
        copies[service] = copy
    return copies
