"""The demo, stage 1 (what a platform team does): a private index, the releases on it, and the
services installed from it by their version range — orm-models never comes from a path here.

Stage 2 (`demo_services.py`) then runs inside that services' environment: PostgreSQL, migrations,
a load of the shipped sample by `loader-service`, and the API serving it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.release import build, releases
from tools.release.credentials import Credentials, Target
from tools.release.index import IndexServer
from tools.release.progress import each_release
from tools.release.publish import publish

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("loader-service", "api-service")


def _step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"demo: {' '.join(command[:3])} ... failed:\n{result.stdout}{result.stderr}")


def _publish_releases(index: IndexServer, uv: str, work: Path) -> list[str]:
    """Every recorded release, rebuilt from its own commit and uploaded with twine."""
    assert index.credentials is not None
    target = Target(index.url, index.simple_url, index.credentials)
    versions = []
    recorded = releases.load(ROOT)
    label = "orm-models {0.version} from {0.commit:.7}"
    for known in each_release(recorded, "building and publishing", label):
        dists = build.build(ROOT, known.commit, work / "dist", uv, work)
        publish(dists, target)
        versions.append(known.version)
    return versions


def _install_services(index: IndexServer, uv: str, work: Path) -> dict[str, Path]:
    """A fresh venv per service, as each is deployed: orm-models by its own range, from the
    private index only — so the two may sit on different majors."""
    assert index.credentials is not None
    env = {
        **os.environ,
        "UV_INDEX_PRIVATE_USERNAME": index.credentials.username,
        "UV_INDEX_PRIVATE_PASSWORD": index.credentials.password,
    }
    venvs: dict[str, Path] = {}
    for number, service in enumerate(SERVICES, 1):
        print(f"[{number}/{len(SERVICES)}] {service}: its wheel, installed with its orm-models", flush=True)
        venv = work / service
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
        wheels = work / f"{service}-wheel"
        _run([uv, "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(ROOT / service)])
        # The private index first; `first-index` means a name it holds is never looked up elsewhere.
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
             "--index", f"private={index.simple_url}", "--index-strategy", "first-index",
             *map(str, sorted(wheels.glob("*.whl"))), "orm-models[testing]"],
            env=env,
        )  # fmt: skip
        venvs[service] = venv
    return venvs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="embedded PostgreSQL data directory")
    parser.add_argument("--serve", action="store_true", help="keep the API and the web page up until Ctrl-C")
    arguments = parser.parse_args()
    uv = os.environ["UV"]

    with tempfile.TemporaryDirectory(prefix="orm-demo-") as scratch:
        work = Path(scratch)
        credentials = Credentials("demo", secrets.token_urlsafe(18))
        index = IndexServer(
            work / "packages", credentials, htpasswd=work / "htpasswd", log=work / "index.log"
        )
        # Measured (README, "How long things take"): 5 min 24 s on 2 cores at load average 12.
        print("demo: about 5 min on 2 busy cores, most of it rebuilding every release", flush=True)
        with index:
            _step(f"private index: pypiserver on {index.url} (authenticated, loopback only)")
            versions = _publish_releases(index, uv, work)
            print(
                f"published orm-models {', '.join(versions)} (built from their commits, uploaded with twine)"
            )

            _step("install loader-service and api-service (each by its orm-models range) from the index")
            venvs = _install_services(index, uv, work)

        # Stage two runs in the loader's environment and starts the API from its own.
        loader_python = venvs["loader-service"] / "bin" / "python"
        stage_two = [str(loader_python), str(ROOT / "tools" / "demo_services.py")]
        serve = ["--serve"] if arguments.serve else []
        env = {**os.environ, "ORM_DEMO_API_BIN": str(venvs["api-service"] / "bin")}
        result = subprocess.run(
            [*stage_two, "--data-dir", str(arguments.data_dir), *serve], env=env, check=False
        )
        sys.exit(result.returncode)


if __name__ == "__main__":
    main()
