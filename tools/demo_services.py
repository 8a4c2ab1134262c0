"""The demo, stage 2, run by the services' own interpreter (see demo.py): database, migrations,
a load of the shipped sample, and the API serving the result, read back over HTTP."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from orm_models.testing.postgres import running_postgres

BIN = Path(sys.executable).parent
API_BIN = Path(os.environ.get("ORM_DEMO_API_BIN") or BIN)
"""The api-service's own environment: it may be on another orm-models major than the loader."""


def _version_in(bin_dir: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return subprocess.run(
        [str(bin_dir / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL we built
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"demo: the API exited with status {server.returncode}")
        try:
            if _get(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("demo: the API did not answer within 30 s")


def _serve_and_read(env: dict[str, str]) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(API_BIN / "uvicorn"), "--factory", "api_service.main:create_app", "--port", str(port),
         "--host", "127.0.0.1", "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    try:
        _wait_until_up(base, server)
        for path in ("/readyz", "/version"):
            status, body = _get(base + path)
            print(f"GET {path} -> {status} {json.dumps(body)}")
        status, page = _get(f"{base}/people?limit=5")
        print(f"GET /people?limit=5 -> {status}; next cursor: {page.get('next_cursor') or page.get('next')}")
        print(f"\n{'id':>3}  {'external_id':<8} {'name':<22} {'email':<34} organization")
        for person in page["items"]:
            name = f"{person['given_name']} {person.get('family_name') or ''}".strip()
            organization = (person.get("organization") or {}).get("name", "-")
            email = person["email"] or "-"
            print(f"{person['id']:>3}  {person['external_id']:<8} {name:<22} {email:<34} {organization}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    arguments = parser.parse_args()
    api = (
        f"api-service {_version_in(API_BIN, 'api-service')}, orm-models {_version_in(API_BIN, 'orm-models')}"
    )
    loader = f"loader-service {version('loader-service')}, orm-models {version('orm-models')}"
    print(f"loader's environment: {loader}; api's: {api} (each by its own range, from the private index)")

    with running_postgres(data_dir=arguments.data_dir) as url:
        env = {**os.environ, "DATABASE_URL": url}
        _step(f"PostgreSQL: {make_url(url).render_as_string(hide_password=True)}")
        # Each service's orm-models applies its expand revisions (contract ones stay held back):
        # the loader's first, then the api's (the same one twice is a no-op).
        for bin_dir in dict.fromkeys((BIN, API_BIN)):
            subprocess.run([str(bin_dir / "orm-models"), "migrate"], env=env, check=True)

        _step(
            "loader-service run --source <the shipped sample>  (sync: upsert by external id, delete missing)"
        )
        sample = subprocess.run(
            [str(BIN / "loader-service"), "sample"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        subprocess.run([str(BIN / "loader-service"), "run", "--source", sample], env=env, check=True)

        _step("api-service: uvicorn --factory api_service.main:create_app, read back over HTTP")
        _serve_and_read(env)


if __name__ == "__main__":
    main()
