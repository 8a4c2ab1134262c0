"""The demo, stage 2, run by the services' own interpreter (see demo.py): database, migrations,
a load of the shipped sample, and the API serving the result, read back over HTTP."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from orm_models.testing.postgres import running_postgres
from tools.static_site import static_site

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


def _get(url: str, token: str | None = None, data: bytes | None = None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback URL we built
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
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


@contextlib.contextmanager
def _dev_issuer() -> Iterator[str]:
    """api-service's local OIDC issuer, run from the API's own environment; yields its URL."""
    url = f"http://127.0.0.1:{_free_port()}"
    port = url.rsplit(":", 1)[1]
    issuer = subprocess.Popen(
        [str(API_BIN / "python"), "-m", "api_service.dev_issuer", "--port", port], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _get(f"{url}/.well-known/openid-configuration")
                break
            except OSError:
                if issuer.poll() is not None or time.monotonic() > deadline:
                    sys.exit("demo: the local token issuer did not start")
                time.sleep(0.1)
        yield url
    finally:
        issuer.terminate()
        issuer.wait(timeout=10)


def _serve_and_read(env: dict[str, str], serve: bool) -> None:
    # The local OIDC issuer stands in for the company's (Keycloak, Entra ID, Auth0, ...); the web
    # page is served from its own origin, so CORS is exercised for real.
    with _dev_issuer() as issuer, static_site() as web:
        _step(f"token issuer (local OIDC, demo only): {issuer}/.well-known/openid-configuration")
        env = {
            **env,
            "API_AUTH_ISSUER": issuer,
            "API_AUTH_AUDIENCE": "api-service",  # the dev issuer's default audience
            "API_CORS_ORIGINS": web,
            "API_LOG_LEVEL": "warning",  # the demo's own output stays readable
        }
        _serve_api_and_read(env, issuer, web, serve)


def _serve_api_and_read(env: dict[str, str], issuer: str, web: str, serve: bool) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(API_BIN / "uvicorn"), "--factory", "api_service.main:create_app", "--port", str(port),
         "--host", "127.0.0.1", "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    try:
        _wait_until_up(base, server)
        _wait_registered(base)
        # What the web page does: POST /token, then send the token with every call.
        status, grant = _get(f"{issuer}/token", data=b"scope=people:read&expires_in=900")
        token = grant["access_token"]
        print(f"POST {issuer}/token -> {status}; a token for 15 min (scope people:read):\n{token}")
        print(
            f"  try: curl -H 'Authorization: Bearer <token>' '{base}/people?limit=2'  (while the demo runs)"
        )
        print(f"GET /people without a token -> {_get(f'{base}/people')[0]}")
        profile_only = _get(f"{issuer}/token", data=b"scope=profile")[1]["access_token"]
        status = _get(f"{base}/people", profile_only)[0]
        print(f"GET /people, token without people:read -> {status}")
        for path in ("/readyz", "/version"):
            status, body = _get(base + path)
            print(f"GET {path} -> {status} {json.dumps(body)}")
        status, page = _get(f"{base}/people?limit=5", token)
        print(f"GET /people?limit=5 -> {status}; next cursor: {page.get('next_cursor') or page.get('next')}")
        print(f"\n{'id':>3}  {'external_id':<8} {'name':<22} {'email':<34} organization")
        for person in page["items"]:
            name = f"{person['given_name']} {person.get('family_name') or ''}".strip()
            organization = (person.get("organization") or {}).get("name", "-")
            email = person["email"] or "-"
            print(f"{person['id']:>3}  {person['external_id']:<8} {name:<22} {email:<34} {organization}")
        page = f"{web}/index.html?apiBase={base}&tokenUrl={issuer}/token"
        if not serve:
            print(f"\nweb page: {page}  (up while the demo runs; `nox -s demo -- --serve` keeps it up)")
            return
        _step("serving until Ctrl-C")
        print(f"web page: {page}\nAPI:      {base}/people  (docs: {base}/docs)", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            print("\nstopping")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_registered(base: str) -> None:
    """Until the API's first heartbeat reached the client registry (it runs off the request path)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        registration = _get(base + "/version")[1].get("registration") or {}
        if registration.get("status", "pending") != "pending":
            return
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--serve", action="store_true", help="keep the API and the web page up until Ctrl-C")
    arguments = parser.parse_args()
    api = (
        f"api-service {_version_in(API_BIN, 'api-service')}, orm-models {_version_in(API_BIN, 'orm-models')}"
    )
    loader = f"loader-service {version('loader-service')}, orm-models {version('orm-models')}"
    print(f"loader's environment: {loader}; api's: {api} (each by its own range, from the private index)")

    with running_postgres(data_dir=arguments.data_dir) as url:
        # Stable instance names: the demo's database persists, so re-runs refresh one registration each.
        env = {**os.environ, "DATABASE_URL": url, "LOADER_INSTANCE": "demo", "API_INSTANCE": "demo"}
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
        _serve_and_read(env, arguments.serve)

        _step("orm-models status: revision, pending revisions, the clients registered above")
        subprocess.run([str(BIN / "orm-models"), "status"], env=env, check=True)


if __name__ == "__main__":
    main()
