"""Every workflow of this monorepo is a nox session: `python noxfile.py -l` lists them.

Run as `python noxfile.py -s <session>` on a machine that has only Python and pip: the file
bootstraps nox (with uv) into `.nox/_bootstrap` on first use. With nox installed, `nox -s
<session>` is the same thing.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
TESTED_PACKAGES = ["orm-models"]
# Services with a benchmark in <service>/benchmarks/run.py (`nox -s bench`).
BENCHMARKED_SERVICES = ["loader-service", "api-service"]
DEMO_DATA_DIR = ROOT / ".devdb"


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
        session.install(f"{orm_models_wheel}[testing]")
    else:
        session.install(f"{orm_models_wheel}[testing]", f"{_build_wheel(session, ROOT / package)}[{extras}]")


def _run_tests(session: nox.Session, package: str) -> None:
    """Run `package`'s tests against its installed wheel, so a file missing from it fails a test."""
    project = ROOT / package
    _install_built(session, package, "test")
    with session.chdir(project):
        session.run("pytest", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(python=PYTHON)
@nox.parametrize("package", TESTED_PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run every package's test suite against real PostgreSQL (embedded unless DATABASE_URL is set)."""
    _run_tests(session, package)


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
    editable = [f"{ORM_MODELS}[testing]", *(f"{ROOT / name}[test,bench]" for name in BENCHMARKED_SERVICES)]
    session.install(
        "ruff>=0.8,<1", "mypy>=1.13,<2", NOX_REQUIREMENT, *(arg for e in editable for arg in ("-e", e))
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # One mypy run per package: each has its own tests/conftest.py, which one run would see twice.
    session.run("mypy", "noxfile.py", "tools")
    for package in ["orm-models", *BENCHMARKED_SERVICES]:
        typed = [
            str(ROOT / package / d)
            for d in ("src", "tests", "benchmarks")
            if any((ROOT / package / d).rglob("*.py"))
        ]
        session.run("mypy", *typed)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Start PostgreSQL (embedded in .devdb/ unless DATABASE_URL is set), migrate, load, print."""
    session.install(f"{_build_wheel(session, ORM_MODELS)}[testing]")
    session.run("python", str(ROOT / "tools" / "demo.py"), "--data-dir", str(DEMO_DATA_DIR))


@nox.session(python=PYTHON)
def check(session: nox.Session) -> None:
    """Schema version gate: the built wheel vs the last release's manifest (`-- --json` for machines)."""
    session.install(f"{_build_wheel(session, ORM_MODELS)}[check]")
    baseline = ORM_MODELS / "schema-baseline.json"
    session.run("orm-models", "check", "--baseline", str(baseline), *session.posargs)


if __name__ == "__main__":
    nox.main()
