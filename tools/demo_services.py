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

from api_service.dev_issuer import DevIssuer
from orm_models.testing.postgres import running_postgres
from tools.static_site import static_site

BIN = Path(sys.executable).parent


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


def _serve_and_read(env: dict[str, str], serve: bool) -> None:
    # The local OIDC issuer stands in for the company's (Keycloak, Entra ID, Auth0, ...); the web
    # page is served from its own origin, so CORS is exercised for real.
    with DevIssuer() as issuer, static_site() as web:
        _step(f"token issuer (local OIDC, demo only): {issuer.url}/.well-known/openid-configuration")
        env = {
            **env,
            "API_AUTH_ISSUER": issuer.url,
            "API_AUTH_AUDIENCE": issuer.audience,
            "API_CORS_ORIGINS": web,
            "API_LOG_LEVEL": "warning",  # the demo's own output stays readable
        }
        _serve_api_and_read(env, issuer, web, serve)


def _serve_api_and_read(env: dict[str, str], issuer: DevIssuer, web: str, serve: bool) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "uvicorn"), "--factory", "api_service.main:create_app", "--port", str(port),
         "--host", "127.0.0.1", "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    try:
        _wait_until_up(base, server)
        _wait_registered(base)
        # What the web page does: POST /token, then send the token with every call.
        status, grant = _get(f"{issuer.url}/token", data=b"scope=people:read&expires_in=900")
        token = grant["access_token"]
        print(f"POST {issuer.url}/token -> {status}; a token for 15 min (scope people:read):\n{token}")
        print(
            f"  try: curl -H 'Authorization: Bearer <token>' '{base}/people?limit=2'  (while the demo runs)"
        )
        print(f"GET /people without a token -> {_get(f'{base}/people')[0]}")
        status = _get(f"{base}/people", issuer.issue(scope="profile"))[0]
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
        page = f"{web}/index.html?apiBase={base}&tokenUrl={issuer.url}/token"
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
    print(f"services' environment: orm-models {version('orm-models')} (from the private index), "
          f"loader-service {version('loader-service')}, api-service {version('api-service')}")  # fmt: skip

    with running_postgres(data_dir=arguments.data_dir) as url:
        # Stable instance names: the demo's database persists, so re-runs refresh one registration each.
        env = {**os.environ, "DATABASE_URL": url, "LOADER_INSTANCE": "demo", "API_INSTANCE": "demo"}
        _step(f"PostgreSQL: {make_url(url).render_as_string(hide_password=True)}")
        subprocess.run([str(BIN / "orm-models"), "migrate"], env=env, check=True)

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
