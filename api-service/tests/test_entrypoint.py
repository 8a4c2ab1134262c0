"""`api-service` and `uvicorn --factory`: help, version, and one line for a bad setting."""

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # No API_* or DATABASE_URL from the caller's environment; cwd has no .env.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("API_") and k != "DATABASE_URL"}
    return subprocess.run(
        command, env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_help(tmp_path: Path) -> None:
    result = _run([str(BIN / "api-service"), "--help"], tmp_path)

    assert result.returncode == 0
    for flag in ("--host", "--port", "--workers", "--version", "--log-level"):
        assert flag in result.stdout
    assert "default 127.0.0.1" in result.stdout
    assert "default 8000" in result.stdout
    assert "default 2" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = _run([str(BIN / "api-service"), "--version"], tmp_path)

    assert result.returncode == 0
    assert result.stdout.strip() == f"api-service {version('api-service')}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "api-service: DATABASE_URL (or API_DATABASE_URL) is not set"),
        (
            {"DATABASE_URL": "mysql://u:hunter2@db/app"},
            "api-service: DATABASE_URL (or API_DATABASE_URL): unsupported scheme mysql:// "
            "(use postgresql://, postgres:// or postgresql+psycopg2://)",
        ),
        (
            {"DATABASE_URL": "postgresql://db/app"},
            "api-service: API_AUTH_ISSUER is required (or API_AUTH_ANONYMOUS=true to serve without tokens)",
        ),
        (
            {"DATABASE_URL": "postgresql://db/app", "API_AUTH_ANONYMOUS": "true", "API_WORKERS": "0"},
            "api-service: API_WORKERS: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = _run([str(BIN / "api-service")], tmp_path, **env)

    assert result.returncode == 2
    assert result.stderr == message + "\n"
    assert "hunter2" not in result.stdout + result.stderr


def test_flag_overrides_its_setting(tmp_path: Path) -> None:
    result = _run([str(BIN / "api-service"), "--port", "70000"], tmp_path, DATABASE_URL="postgresql://db/app")

    assert result.returncode == 2
    assert result.stderr == "api-service: API_PORT: Input should be less than or equal to 65535\n"


def test_uvicorn_factory_without_database_url(tmp_path: Path) -> None:
    result = _run([str(BIN / "uvicorn"), "--factory", "api_service.main:create_app"], tmp_path)

    assert result.returncode == 2
    assert result.stderr == "api-service: DATABASE_URL (or API_DATABASE_URL) is not set\n"
