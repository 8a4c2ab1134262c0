"""Every workflow of this monorepo is a nox session: `python noxfile.py -l` lists them.

Run as `python noxfile.py -s <session>` on a machine that has only Python and pip: the file
bootstraps nox (with uv) into `.nox/_bootstrap` on first use. With nox installed, `nox -s
<session>` is the same thing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOX_REQUIREMENT = "nox[uv]>=2025.5.1,<2027"


def _bootstrap_nox() -> None:
    """Re-run this file under a private venv that has nox, so the Quickstart needs only pip."""
    venv = ROOT / ".nox" / "_bootstrap"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        print(f"noxfile: installing {NOX_REQUIREMENT} into {venv.relative_to(ROOT)} (first run only)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, NOX_REQUIREMENT], check=True)
    os.execv(python, [str(python), __file__, *sys.argv[1:]])  # noqa: S606 - re-exec, no shell


if __name__ == "__main__":
    try:
        import nox
    except ModuleNotFoundError:
        _bootstrap_nox()

import nox  # noqa: E402 - after the bootstrap above, by design
from uv import find_uv_bin  # noqa: E402

nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_external_run = True

UV = find_uv_bin()
PYTHON = "3.11"
ORM_MODELS = ROOT / "orm-models"
# Packages with a test suite, in dependency order; each runs in its own venv.
TESTED_PACKAGES = ["orm-models", "loader-service", "api-service"]
# Services with a benchmark in <service>/benchmarks/run.py (`nox -s bench`).
BENCHMARKED_SERVICES = ["loader-service", "api-service"]
DEMO_DATA_DIR = ROOT / ".devdb"
# Cross-package scenarios (real index, real builds and installs) run after every package's own suite.
E2E = "e2e"
TESTED_PACKAGES += [E2E]
# The web page in headless Chromium against the real API, last (`nox -s browser` alone).
BROWSER = "browser"
TESTED_PACKAGES += [BROWSER]
# Release tooling: `python -m tools.release` runs inside the sessions below (see tools/release/).
SERVICES = ["loader-service", "api-service"]
TWINE = "twine>=6.1,<8"
PYPISERVER = "pypiserver[passlib]>=2.3,<3"
INDEX_STATE = ROOT / ".index"


def _build_wheel(session: nox.Session, project: Path) -> Path:
    """Build `project` with its own backend (hatchling) into a fresh directory; return the wheel."""
    out_dir = Path(session.create_tmp()) / f"dist-{project.name}"
    if out_dir.exists():
        for stale in out_dir.iterdir():
            stale.unlink()
    session.run(UV, "build", "--wheel", "--out-dir", str(out_dir), str(project), external=True, silent=True)
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        session.error(f"expected one wheel from {project.name}, found {[w.name for w in wheels]}")
    return wheels[0]


def _install_built(session: nox.Session, package: str, extras: str) -> None:
    """Install `package` as a built wheel (never editable) with `extras`, beside the local orm-models.

    Inner-loop tests use the orm-models of this tree; what is *deployed* (the index) is tested by
    the compat and e2e sessions.
    """
    orm_models_wheel = _build_wheel(session, ORM_MODELS)
    if package == "orm-models":
        session.install(f"{orm_models_wheel}[test]")
    else:
        session.install(f"{orm_models_wheel}[testing]", f"{_build_wheel(session, ROOT / package)}[{extras}]")


def _run_tests(session: nox.Session, package: str) -> None:
    """Run `package`'s tests against its installed wheel, so a file missing from it fails a test."""
    if package == E2E:
        _run_e2e(session)
        return
    if package == BROWSER:
        _run_browser(session)
        return
    project = ROOT / package
    _install_built(session, package, "test")
    with session.chdir(project):
        session.run("pytest", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(python=PYTHON)
@nox.parametrize("package", TESTED_PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run every package's test suite against real PostgreSQL (embedded unless DATABASE_URL is set)."""
    _run_tests(session, package)


def _run_browser(session: nox.Session) -> None:
    """tests/browser: web/ served on its own origin, api-service under uvicorn, Debian's Chromium."""
    session.install(
        f"{_build_wheel(session, ORM_MODELS)}[testing]",
        str(_build_wheel(session, ROOT / "api-service")),
        "-r",
        str(ROOT / "tests" / "browser" / "pyproject.toml"),
    )
    with session.chdir(ROOT / "tests" / "browser"):
        session.run("pytest", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(python=PYTHON)
def browser(session: nox.Session) -> None:
    """The web page (web/) in headless Chromium against the real API; screenshot in .artifacts/browser/."""
    _run_browser(session)


@nox.session(python=PYTHON)
@nox.parametrize("service", BENCHMARKED_SERVICES)
def bench(session: nox.Session, service: str) -> None:
    """Print each service's figures side by side with a baseline measured in the same run."""
    _install_built(session, service, "test,bench")
    with session.chdir(ROOT / service):
        session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy (strict) over the whole repository."""
    editable = [f"{ORM_MODELS}[test]", *(f"{ROOT / name}[test,bench]" for name in BENCHMARKED_SERVICES)]
    session.install(
        "ruff>=0.8,<1", "mypy>=1.13,<2", NOX_REQUIREMENT, *(arg for e in editable for arg in ("-e", e))
    )
    # Types for the test suites: playwright's (browser), PyYAML's and dockerfile-parse (e2e).
    session.install(
        "-r", str(ROOT / "tests" / "browser" / "pyproject.toml"), "types-pyyaml>=6", "dockerfile-parse>=2,<3"
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # One mypy run per package: each has its own tests/conftest.py, which one run would see twice.
    session.run("mypy", "noxfile.py", "tools")
    session.run("mypy", "tests/e2e")
    session.run("mypy", "tests/browser")
    for package in ["orm-models", *BENCHMARKED_SERVICES]:
        typed = [
            str(ROOT / package / d)
            for d in ("src", "tests", "benchmarks")
            if any((ROOT / package / d).rglob("*.py"))
        ]
        session.run("mypy", *typed)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The whole story: private index -> services installed by range -> migrate, load, serve, read back.

    PostgreSQL is embedded in .devdb/ unless DATABASE_URL is set.
    """
    session.install(TWINE, PYPISERVER)
    env = {"PYTHONPATH": str(ROOT), "UV": UV, "TMPDIR": tempfile.gettempdir()}
    demo = [str(ROOT / "tools" / "demo.py"), "--data-dir", str(DEMO_DATA_DIR), *session.posargs]
    session.run("python", *demo, env=env)  # `-- --serve`: keep the API and the web page up


@nox.session(python=PYTHON)
def check(session: nox.Session) -> None:
    """Schema version gate: the built wheel vs the last release's manifest (`-- --json` for machines)."""
    session.install(f"{_build_wheel(session, ORM_MODELS)}[check]")
    baseline = ORM_MODELS / "schema-baseline.json"
    session.run("orm-models", "check", "--baseline", str(baseline), *session.posargs)


# --- The private index and releases (issue 3). Logic lives in tools/release; sessions stay thin. ---


def _release_tool(session: nox.Session, *args: str, silent: bool = False) -> str:
    """Run `python -m tools.release <args>` in the session's venv (twine, pypiserver live there)."""
    # nox points TMPDIR into .nox/, inside this repository, whose ignore files would leak into an
    # sdist built there; the tool's scratch builds use the system's temporary directory instead.
    env = {"PYTHONPATH": str(ROOT), "UV": UV, "TMPDIR": tempfile.gettempdir()}
    output = session.run("python", "-m", "tools.release", *args, env=env, silent=silent)
    return output if isinstance(output, str) else ""


def _run_e2e(session: nox.Session) -> None:
    """tests/e2e: real pypiserver, twine uploads, hatchling builds, pip/uv installs, all on loopback."""
    session.install("-r", str(ROOT / "tests" / "e2e" / "pyproject.toml"))
    # The expand/contract story and the Lambda package test need PostgreSQL (orm-models' embedded one).
    session.install(f"{_build_wheel(session, ORM_MODELS)}[testing]")
    # Release builds refuse scratch space inside the repository (where the wheel build put TMPDIR).
    env = {"PYTHONDONTWRITEBYTECODE": "1", "UV": UV, "TMPDIR": tempfile.gettempdir()}
    with session.chdir(ROOT / "tests" / "e2e"):
        session.run("pytest", *session.posargs, env=env)


def _index_env(session: nox.Session) -> dict[str, str]:
    """uv's credentials for the index named "private": the caller's, else the generated local ones."""
    if os.environ.get("UV_INDEX_PRIVATE_USERNAME") and os.environ.get("UV_INDEX_PRIVATE_PASSWORD"):
        return {}
    generated = INDEX_STATE / "credentials"
    if not generated.exists():
        session.error("no index credentials: set UV_INDEX_PRIVATE_USERNAME/_PASSWORD or run `nox -s index`")
    values = dict(
        line.split("=", 1) for line in generated.read_text().splitlines() if "=" in line and line[0] != "#"
    )
    return {k: v for k, v in values.items() if k.startswith("UV_INDEX_PRIVATE_")}


def _private_index_url(service: str) -> str:
    """The URL of the index named "private" in `service`'s pyproject (what its lock records)."""
    config = tomllib.loads((ROOT / service / "pyproject.toml").read_text())
    urls = [index["url"] for index in config["tool"]["uv"]["index"] if index["name"] == "private"]
    return str(urls[0])


def _schema_gate(session: nox.Session, new_version: str) -> Path:
    """Stop the release if the schema diff needs a bigger bump than `new_version` (issue 4's check).

    Returns the CHANGELOG section `orm-models changelog` renders from the same diff. The session
    keeps this orm-models installed: the release refreshes the baseline with its `manifest`.
    """
    session.install(f"{_build_wheel(session, ORM_MODELS)}[check]")
    baseline = str(ORM_MODELS / "schema-baseline.json")
    session.run("orm-models", "check", "--baseline", baseline, "--version", new_version)
    section = session.run(
        "orm-models", "changelog", "--baseline", baseline, "--version", new_version, silent=True
    )
    rendered = Path(session.create_tmp()) / "changelog-section.md"
    rendered.write_text(str(section))
    return rendered


@nox.session(python=PYTHON)
def index(session: nox.Session) -> None:
    """Run the private index (pypiserver, 127.0.0.1:8080, auth on everything) until Ctrl-C; `-- stop`."""
    session.install(PYPISERVER)
    _release_tool(session, "index", *session.posargs)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build orm-models' wheel and sdist from the committed tree into dist/; twine check --strict."""
    session.install(TWINE)
    _release_tool(session, "build", *session.posargs)


@nox.session(python=PYTHON)
def publish(session: nox.Session) -> None:
    """Upload every recorded release (rebuilt from its commit), or `-- FILES`, idempotently with twine."""
    session.install(TWINE)
    _release_tool(session, "publish", *session.posargs)


@nox.session(python=PYTHON)
def release(session: nox.Session) -> None:
    """`-- major|minor|patch`: bump, CHANGELOG, commit, build, check, publish, record. Clean tree only."""
    if len(session.posargs) != 1 or session.posargs[0] not in ("major", "minor", "patch"):
        session.error("usage: nox -s release -- major|minor|patch")
    part = session.posargs[0]
    session.install(TWINE)
    new_version = _release_tool(session, "release", part, "--plan", silent=True).split()[-1]
    _release_tool(session, "release", part, "--changelog", str(_schema_gate(session, new_version)))


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Re-lock each service against the running private index; fail if a lock holds a credential."""
    env = _index_env(session)
    for service in SERVICES:
        session.run(UV, "lock", "--directory", str(ROOT / service), *session.posargs, env=env, external=True)
        lock_text = (ROOT / service / "uv.lock").read_text()
        secrets = [v for v in (*env.values(), os.environ.get("UV_INDEX_PRIVATE_PASSWORD")) if v]
        if re.search(r"://[^/\s\"]*@", lock_text) or any(s in lock_text for s in secrets):
            session.error(f"{service}/uv.lock contains a credential; do not commit it")


@nox.session(venv_backend="none")
def package(session: nox.Session) -> None:
    """The loader's AWS Lambda zip from its uv.lock (manylinux wheels, Python 3.11) into dist/lambda/."""
    env = {**_index_env(session), "PYTHONPATH": str(ROOT), "UV": UV}
    session.run(
        sys.executable, "-m", "tools.lambda_package", str(ROOT / "loader-service"),
        "--out-dir", str(ROOT / "dist" / "lambda"), "--index-url", _private_index_url("loader-service"),
        *session.posargs,  # e.g. `-- --index-url URL` for an index on another port
        env=env, external=True,
    )  # fmt: skip


@nox.session(python=PYTHON)
def compat(session: nox.Session) -> None:
    """Each service's tests against the lowest and highest orm-models its range admits on the index,
    and against the freshly built local wheel; prints the matrix (service x orm-models -> result)."""
    from packaging.requirements import Requirement

    session.install(TWINE)
    env = _index_env(session)
    on_index = _release_tool(session, "versions", silent=True).split()
    local_wheel = _build_wheel(session, ORM_MODELS)
    matrix: list[tuple[str, str, str]] = []
    for service in SERVICES:
        config = tomllib.loads((ROOT / service / "pyproject.toml").read_text())
        # The range the tests run under: the runtime requirement and the `test` extra's, together.
        declared = [*config["project"]["dependencies"], *config["project"]["optional-dependencies"]["test"]]
        ranges = [r.specifier for r in map(Requirement, declared) if r.name == "orm-models"]
        admitted = [v for v in on_index if all(v in spec for spec in ranges)]
        if not admitted:
            session.error(f"no orm-models{','.join(map(str, ranges))} on the index: run `nox -s publish`")
        service_wheel = _build_wheel(session, ROOT / service)
        cells = {
            f"{admitted[0]} (lowest)": f"orm-models[testing]=={admitted[0]}",
            f"{admitted[-1]} (highest)": f"orm-models[testing]=={admitted[-1]}",
            "local wheel": f"orm-models[testing] @ {local_wheel.resolve().as_uri()}",
        }
        for label, requirement in cells.items():
            matrix.append((service, label, _compat_cell(session, service, service_wheel, requirement, env)))
    width = max(len(service) for service, _, _ in matrix)
    session.log("compat matrix (service x orm-models -> result):")
    for service, label, result in matrix:
        session.log(f"  {service:<{width}}  {label:<22} {result}")
    if any(result == "FAILED" for _, _, result in matrix):
        session.error("compat: at least one service fails against an orm-models its range admits")


def _compat_cell(
    session: nox.Session, service: str, service_wheel: Path, requirement: str, env: dict[str, str]
) -> str:
    """One matrix cell in its own venv: install from the index (orm-models from "private" only)."""
    venv = Path(session.create_tmp()).resolve() / f"compat-{service}"
    session.run(UV, "venv", "--quiet", "--clear", "--python", PYTHON, str(venv), external=True)
    python = str(venv / "bin" / "python")
    session.run(
        UV, "pip", "install", "--quiet", "--python", python,
        "--index", f"private={_private_index_url(service)}", "--index-strategy", "first-index",
        f"{service_wheel}[test]", requirement, env=env, external=True,
    )  # fmt: skip
    if not any((ROOT / service / "tests").rglob("test_*.py")):
        return "installs; no tests"
    session.log(f"{service}: pytest against {requirement}")
    tests = subprocess.run([python, "-m", "pytest", "-q"], cwd=ROOT / service, check=False)
    return {0: "passed", 5: "no tests"}.get(tests.returncode, "FAILED")


if __name__ == "__main__":
    nox.main()
