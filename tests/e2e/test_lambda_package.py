"""The loader's Lambda zip, built from its lock against the private index, unzipped, and run:
`handler(event, context)` in a fresh interpreter whose sys.path holds only the standard library and
the zip's contents (`python -I -S`), against real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.helpers import ROOT, uv_bin
from tools.lambda_package.build import MAX_UNZIPPED_BYTES, Package, build_zip, service_version
from tools.release.credentials import Credentials
from tools.release.index import IndexServer

LOADER = ROOT / "loader-service"
SAMPLE_ROWS = 40

# What Lambda's runtime does, minus the runtime: import the handler from the task root and call
# it with the event and a context object (the attributes of Lambda's own).
RUN_HANDLER = """
import json, sys
task_root = sys.argv[1]
sys.path.insert(0, task_root)
outside = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
assert not outside, f"interpreter packages visible: {outside}"

class Context:
    function_name = "loader-service"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 900_000

if sys.argv[2] == "migrate":
    from orm_models import migrate
    migrate(sys.argv[3])
    print(json.dumps({"migrated": True}))
else:
    from loader_service.handler import handler
    result = handler(json.loads(sys.argv[3]), Context())
    print(json.dumps(result, default=str))
"""


@pytest.fixture(scope="module")
def package(
    published: dict[str, list[Path]],
    private_index: IndexServer,
    credentials: Credentials,
    tmp_path_factory: pytest.TempPathFactory,
) -> Package:
    work = tmp_path_factory.mktemp("lambda")
    index_env = {
        "UV_INDEX_PRIVATE_USERNAME": credentials.username,
        "UV_INDEX_PRIVATE_PASSWORD": credentials.password,
    }
    return build_zip(LOADER, work / "out", work, uv_bin(), private_index.simple_url, index_env)


@pytest.fixture(scope="module")
def task_root(package: Package, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(root)
    return root


def _in_lambda(task_root: Path, cwd: Path, database_url: str, action: str, argument: str) -> dict[str, Any]:
    # Only what a Lambda function's configuration would set: no PYTHONPATH (ignored by -I anyway).
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN_HANDLER, str(task_root), action, argument],
        cwd=cwd,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(loaded, dict)
    return loaded


def test_the_zip_holds_the_locked_dependencies_for_the_lambda_runtime(
    package: Package, task_root: Path
) -> None:
    assert package.path.name == f"loader-service-{service_version(LOADER)}-lambda.zip"
    assert package.unzipped_bytes < MAX_UNZIPPED_BYTES
    # orm-models as locked, from the private index; binary wheels built for CPython 3.11 manylinux.
    lock = (LOADER / "uv.lock").read_text()
    orm_version = next(task_root.glob("orm_models-*.dist-info")).name.removesuffix(".dist-info").split("-")[1]
    assert (
        f'name = "orm-models"\nversion = "{orm_version}"\nsource = {{ registry = "http://127.0.0.1:8080'
        in lock
    )
    assert list(task_root.glob("pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so"))
    assert list(task_root.glob("psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"))
    assert not (task_root / "bin").exists()
    assert not list(task_root.glob("pytest*")), "test dependencies must stay out of the package"


def test_the_same_lock_gives_the_same_zip(
    package: Package, tmp_path: Path, private_index: IndexServer, credentials: Credentials
) -> None:
    index_env = {
        "UV_INDEX_PRIVATE_USERNAME": credentials.username,
        "UV_INDEX_PRIVATE_PASSWORD": credentials.password,
    }
    again = build_zip(LOADER, tmp_path / "out", tmp_path, uv_bin(), private_index.simple_url, index_env)

    assert _members(again.path) == _members(package.path)
    assert again.path.read_bytes() == package.path.read_bytes()


def _members(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: hashlib.sha256(archive.read(info)).hexdigest() for info in archive.infolist()}


def test_the_handler_runs_from_the_zip_alone(
    task_root: Path, create_database: Callable[[], str], tmp_path: Path
) -> None:
    url = create_database()
    _in_lambda(task_root, tmp_path, url, "migrate", url)
    sample = task_root / "loader_service" / "samples" / "people.csv"

    summary = _in_lambda(task_root, tmp_path, url, "run", json.dumps({"source": str(sample), "mode": "sync"}))

    assert (summary["read"], summary["inserted"], summary["mode"]) == (SAMPLE_ROWS, SAMPLE_ROWS, "sync")
    assert summary["service_version"] == service_version(LOADER)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            landed: int = connection.execute(text("SELECT count(*) FROM person")).scalar_one()
    finally:
        engine.dispose()
    assert landed == SAMPLE_ROWS
