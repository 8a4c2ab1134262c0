"""Every workflow of this monorepo is a nox session: `python noxfile.py -l` lists them.

Run as `python noxfile.py -s <session>` on a machine that has only Python and pip: the file
bootstraps nox (with uv) into `.nox/_bootstrap` on first use. With nox installed, `nox -s
<session>` is the same thing.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

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
PYPI_SIMPLE = "pypi-simple>=1.6,<2"
# The orm-models test a release never skips: the migrations produce exactly the models' schema.
MIGRATIONS_MATCH_MODELS = "test_models_equal_migrated_schema"
# Said before the release's test run; measured 2026-12-06 (README, "How long things take").
RELEASE_SUITE_TIME = "about 12 min on 2 shared cores (measured at load average 7.5)"
RELEASE_SUBSET_TIME = "about 20 s on 2 shared cores (19 tests, measured at load average 6)"
PYPISERVER = "pypiserver[passlib]>=2.3,<3"
# Each suite but the browser's spread over every core (pytest-xdist): a worker starts its own
# embedded PostgreSQL and takes free ports and tmp dirs of its own. worksteal: an idle worker takes
# half of a busy one's queue, so one long e2e scenario does not hold back the short tests. In the
# services' sessions it is installed here, not from their [test] extra: that would stale uv.lock.
PYTEST_XDIST = "pytest-xdist>=3.6,<4"
PARALLEL = ["-n", "auto", "--dist", "worksteal"]
# Only for ORM_INDEX_URL=codeartifact://... (tools/release/codeartifact.py): endpoint and token.
BOTO3 = "boto3>=1.34,<2"
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
    """Install `package` as a built wheel (never editable) with `extras`, beside the orm-models it admits.

    Inner-loop tests use the orm-models of this tree when the package's own range admits it;
    otherwise (the tree is on a major the service has not moved to) the highest release its
    range admits on the private index. The session says which.
    """
    orm_models_wheel = _cached_wheel(session, ORM_MODELS)
    if package == "orm-models":
        session.install(f"{orm_models_wheel}[test]")  # [testing] + pytest-alembic
        return
    service_wheel = _cached_wheel(session, ROOT / package)
    choice = _orm_models_choice(package, extras)
    if choice.local:
        session.install(f"{orm_models_wheel}[testing]", f"{service_wheel}[{extras}]")
    else:
        session.install(*_index_args(package), f"{service_wheel}[{extras}]", env=_index_env(session))
    installed = session.run(
        "python", "-c", "import importlib.metadata as m; print(m.version('orm-models'))", silent=True
    )
    session.log(f"{package}: orm-models {str(installed).strip()} ({choice.reason})")


class _Choice(NamedTuple):
    """Which orm-models a service is tested against, and why (printed by every session)."""

    local: bool
    reason: str


def _local_orm_models_version() -> str:
    """The tree's orm-models version, read from __about__.py without importing anything."""
    for node in ast.parse((ORM_MODELS / "src" / "orm_models" / "__about__.py").read_text()).body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
            continue
        if any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets):
            return str(node.value.value)
    raise RuntimeError("orm-models/src/orm_models/__about__.py has no __version__")


def _orm_models_ranges(service: str, extras: str = "test") -> list[str]:
    """Every orm-models specifier `service` declares: runtime dependency and the named extras."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / service / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in filter(None, extras.split(",")):
        declared += project.get("optional-dependencies", {}).get(extra, [])
    return [str(r.specifier) for r in map(Requirement, declared) if r.name == "orm-models"]


def _orm_models_choice(service: str, extras: str = "test") -> _Choice:
    """The local wheel when `service`'s range admits the tree's version, else the index."""
    from packaging.specifiers import SpecifierSet

    local = _local_orm_models_version()
    ranges = _orm_models_ranges(service, extras)
    # Each range once, in PEP 440 order (`>=2.2,<3`), however many times the pyproject repeats it.
    wanted = " and ".join(dict.fromkeys(_pretty(r) for r in ranges if r)) or "any version"
    if all(local in SpecifierSet(spec) for spec in ranges):
        return _Choice(True, f"the local wheel: {service} admits {wanted}")
    return _Choice(False, f"from the index: {service} admits {wanted}, the tree is {local}")


def _pretty(specifier: str) -> str:
    """`<3,>=2.2` as a reader writes it: lower bound first."""
    return ",".join(sorted(specifier.split(","), key=lambda s: (not s.startswith(">"), s)))


def _index_url() -> str:
    """The private index's base URL: ORM_INDEX_URL, else the local default (ORM_INDEX_PORT moves it)."""
    url = os.environ.get("ORM_INDEX_URL") or f"http://127.0.0.1:{os.environ.get('ORM_INDEX_PORT') or 8080}/"
    return url.rstrip("/") + "/"


def _index_simple_url() -> str:
    codeartifact = _codeartifact()
    if codeartifact is not None:
        return codeartifact["simple_url"]
    return os.environ.get("ORM_INDEX_SIMPLE_URL") or _index_url() + "simple/"


_CODEARTIFACT: dict[str, str] = {}
_CODEARTIFACT_LOCK = threading.Lock()
_TOKEN_REFRESH_MARGIN_SECONDS = 300


def _codeartifact() -> dict[str, str] | None:
    """With ORM_INDEX_URL=codeartifact://...: the repository's simple URL and a token (user `aws`),
    asked again when it is within 5 minutes of its expiry; else None.

    boto3 runs in a throwaway uv environment (`python -m tools.release index-env`); the token comes
    back through a pipe and stays in this process's memory: never a file, a URL or a log line.
    """
    if not os.environ.get("ORM_INDEX_URL", "").startswith("codeartifact://"):
        return None
    with _CODEARTIFACT_LOCK:
        if (
            not _CODEARTIFACT
            or float(_CODEARTIFACT["expires_at"]) - time.time() < _TOKEN_REFRESH_MARGIN_SECONDS
        ):
            command = [UV, "run", "--no-project", "--quiet", "--with", BOTO3, "--with", "packaging>=24"]
            done = subprocess.run(
                [*command, "python", "-m", "tools.release", "index-env"],
                cwd=ROOT,
                env=os.environ | {"PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
                raise SystemExit(f"noxfile: CodeArtifact: {lines[-1].removeprefix('error: ')}")
            _CODEARTIFACT.clear()
            _CODEARTIFACT.update({key: str(value) for key, value in json.loads(done.stdout).items()})
        return dict(_CODEARTIFACT)


def _backend_requirements() -> list[str]:
    """What the release tool needs in a session's venv to reach the index ORM_INDEX_URL names."""
    return [BOTO3] if os.environ.get("ORM_INDEX_URL", "").startswith("codeartifact://") else []


def _index_args(service: str) -> list[str]:
    """uv options that take orm-models from the private index only (the services' own rule)."""
    del service  # every service names the same index "private"; ORM_INDEX_URL moves it for all
    return ["--index", f"private={_index_simple_url()}", "--index-strategy", "first-index"]


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
    if package != "orm-models":  # orm-models' [test] extra has it
        session.install(PYTEST_XDIST)
    with session.chdir(project):
        _pytest(session, {"PYTHONDONTWRITEBYTECODE": "1"}, parallel=True)


def _parallel_args(session: nox.Session) -> list[str]:
    """PARALLEL for a whole suite; one pytest process for a selection (`-k`, `-m`, test paths),
    a handful of tests for which a worker per core, each with its own PostgreSQL, costs more than
    it saves. One process too when DATABASE_URL names one server for every worker: some tests
    compare its database list before and after a command, which another worker would change.
    The caller's arguments come after these: `-- -n 0` or `-- -n auto` decides either way."""
    if os.environ.get("DATABASE_URL"):
        session.log("tests: DATABASE_URL is set: one pytest process (workers would share its server)")
        return []
    selecting = ("-k", "-m", "--keyword")
    if any(arg.startswith(selecting) or not arg.startswith("-") for arg in session.posargs):
        return []
    return PARALLEL


def _pytest(session: nox.Session, env: dict[str, str], *, parallel: bool = False) -> None:
    """pytest with the session's arguments. A `-k`/`-m` filter that selects nothing in this suite
    (pytest's exit 5) passes: `tests -- -k migrations` filters every suite, and most have none."""
    workers = _parallel_args(session) if parallel else []
    filtered = any(arg.startswith(("-k", "-m", "--keyword")) for arg in session.posargs)
    if not filtered:
        session.run("pytest", *workers, *session.posargs, env=env)
        return
    # A report says whether anything ran (nox does not hand back the exit status); the caller's
    # own --junitxml, after ours, wins. Not session.create_tmp(): inside session.chdir() it makes
    # a .nox/ there and moves TMPDIR (Chromium's socket path then grows past its limit).
    with tempfile.TemporaryDirectory(prefix="nox-filtered-") as scratch:
        report = Path(scratch) / "report.xml"
        session.run(
            "pytest", *workers, f"--junitxml={report}", *session.posargs, env=env, success_codes=[0, 5]
        )
        import xml.etree.ElementTree as ET

        suites = list(ET.parse(report).getroot().iter("testsuite")) if report.exists() else []  # noqa: S314
    if suites and all(suite.get("tests") == "0" for suite in suites):
        session.log(f"{session.name}: the filter selected no test in this suite; passed (pytest exit 5)")


@nox.session(python=PYTHON)
@nox.parametrize("package", TESTED_PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run every package's test suite against real PostgreSQL (embedded unless DATABASE_URL is set)."""
    _run_tests(session, package)


def _run_browser(session: nox.Session) -> None:
    """tests/browser: web/ served on its own origin, api-service under uvicorn, headless Chromium.

    The API is installed as its tests install it: with the orm-models its own range admits.
    Chromium is found or installed by tools/chromium.py (Debian's package when this machine can
    install it, else Playwright's), so the session needs nothing installed beforehand.
    """
    _install_built(session, "api-service", "test")
    session.install("-r", str(ROOT / "tests" / "browser" / "pyproject.toml"))
    chromium = _provide_chromium(session)
    with session.chdir(ROOT / "tests" / "browser"):
        _pytest(session, {"PYTHONDONTWRITEBYTECODE": "1", "CHROMIUM": chromium})


def _provide_chromium(session: nox.Session) -> str:
    """Chromium's path, from `python -m tools.chromium` in the session's venv (it has Playwright)."""
    python = str(Path(session.bin) / "python")
    result = subprocess.run(
        [python, "-m", "tools.chromium"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    for line in result.stderr.splitlines()[:-1] if result.returncode else result.stderr.splitlines():
        session.log(line)
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        session.error(lines[-1] if lines else "no Chromium for the browser tests")
    path = result.stdout.strip()
    session.log(f"chromium: {path}")
    return path


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
    """ruff check, ruff format --check, and mypy (strict) over the whole repository.

    A service whose orm-models range does not admit the tree's version is type-checked against
    the release it admits, in a venv of its own (mypy --python-executable).
    """
    off_range = [s for s in BENCHMARKED_SERVICES if not _orm_models_choice(s, "test,bench").local]
    in_range = [s for s in BENCHMARKED_SERVICES if s not in off_range]
    editable = [f"{ORM_MODELS}[test]", *(f"{ROOT / name}[test,bench]" for name in in_range)]
    session.install(
        "ruff>=0.8,<1",
        "mypy>=1.13,<2",
        NOX_REQUIREMENT,
        PYPI_SIMPLE,
        TWINE,  # tests/e2e/test_index_identity.py calls twine's upload command in-process
        *(arg for e in editable for arg in ("-e", e)),
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
        python: list[str] = []
        if package in off_range:
            venv = _service_venv(session, package, "test,bench", _index_env(session), editable=True)
            python = ["--python-executable", str(venv / "bin" / "python")]
            python += ["--config-file", str(_mypy_config_without(session, ORM_MODELS / "src"))]
            session.log(f"{package}: mypy against {_orm_models_choice(package, 'test,bench').reason}")
        session.run("mypy", *python, *typed)


def _mypy_config_without(session: nox.Session, source: Path) -> Path:
    """The repository's mypy settings minus `source` on mypy_path, as a mypy.ini.

    mypy_path wins over the installed packages: an off-range service must see the orm-models
    installed in its venv, not the tree's source.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    here = str(ROOT)
    lines = ["[mypy]"]
    for key, value in config.items():
        if key == "overrides":
            continue
        if key == "mypy_path":
            kept = [p for p in value.split(":") if p.replace("$MYPY_CONFIG_FILE_DIR", here) != str(source)]
            value = ":".join(kept).replace("$MYPY_CONFIG_FILE_DIR", here)
        lines.append(f"{key} = {value}")
    for override in config.get("overrides", []):
        lines.append(f"[mypy-{','.join(override['module'])}]")
        lines += [f"{key} = {value}" for key, value in override.items() if key != "module"]
    path = Path(session.create_tmp()).resolve() / "mypy-off-range.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def _service_venv(
    session: nox.Session, service: str, extras: str, env: dict[str, str], *, editable: bool = False
) -> Path:
    """A venv of `service` with orm-models from the private index (reused: `uv pip install` syncs)."""
    venv = Path(session.create_tmp()).resolve() / f"{service}-from-index"
    if not (venv / "bin" / "python").exists():
        session.run(UV, "venv", "--quiet", "--python", PYTHON, str(venv), external=True)
    target = ["-e", f"{ROOT / service}[{extras}]"] if editable else [f"{ROOT / service}[{extras}]"]
    session.run(
        UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
        *_index_args(service), *target, env=env, external=True,
    )  # fmt: skip
    return venv


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The whole story: private index -> services installed by range -> migrate, load, serve, read back.

    PostgreSQL is embedded in .devdb/ unless DATABASE_URL is set. Each service gets a venv of its
    own, so the two may sit on different orm-models majors. The demo's index is its own, on a
    free port, whatever ORM_INDEX_URL says: it never touches a team index.
    """
    session.install(TWINE, PYPISERVER, PYPI_SIMPLE)
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
        _pytest(session, env, parallel=True)


def _index_env(session: nox.Session) -> dict[str, str]:
    """uv's credentials for the index named "private": CodeArtifact's token when ORM_INDEX_URL names
    a repository there, else the caller's, else the generated local ones."""
    codeartifact = _codeartifact()
    if codeartifact is not None:
        return {
            "UV_INDEX_PRIVATE_USERNAME": codeartifact["username"],
            "UV_INDEX_PRIVATE_PASSWORD": codeartifact["password"],
        }
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
    """Run the private index (pypiserver behind the immutability guard, ORM_INDEX_URL or 127.0.0.1:8080,
    auth on everything, separate read and upload users) until Ctrl-C; `-- stop`."""
    session.install(PYPISERVER)
    _release_tool(session, "index", *session.posargs)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build orm-models' wheel and sdist from the committed tree into dist/; twine check --strict."""
    session.install(TWINE)
    _release_tool(session, "build", *session.posargs)


@nox.session(python=PYTHON)
def publish(session: nox.Session) -> None:
    """Upload every recorded release the index lacks (built from its commit), or `-- FILES`, with twine.

    Pre-flight first (index reachable, upload credential accepted), so a wrong password or a dead
    index is reported before anything is built."""
    session.install(TWINE, PYPI_SIMPLE, *_backend_requirements())
    _release_tool(session, "publish", *session.posargs)


@nox.session(python=PYTHON)
def release(session: nox.Session) -> None:
    """`-- major|minor|patch [--allow-empty-major] [--full-tests]`: bump, CHANGELOG, commit, build,
    check, publish, record.

    Before anything changes: git identity, clean tree, index reachable and the upload credential
    accepted, the schema gate (a major needs a breaking change), then orm-models' release-critical
    tests (`-m release`: the migrations match the models, ship in the wheel, upgrade and downgrade;
    the models round-trip) from the built wheel, the migrations-match-models check always among
    them. The whole suite is CI's job on the same commit; `--full-tests` runs it here instead.
    ORM_RELEASE_PYTEST_ARGS replaces the selection (the release tooling's own tests)."""
    options = [arg for arg in session.posargs if arg.startswith("--")]
    parts = [arg for arg in session.posargs if not arg.startswith("--")]
    if (
        len(parts) != 1
        or parts[0] not in ("major", "minor", "patch")
        or set(options) - {"--allow-empty-major", "--full-tests"}
    ):
        session.error("usage: nox -s release -- major|minor|patch [--allow-empty-major] [--full-tests]")
    part = parts[0]
    session.install(TWINE, PYPI_SIMPLE, *_backend_requirements())
    new_version = _release_tool(session, "release", part, "--plan", "--preflight", silent=True).split()[-1]
    changelog = _schema_gate(session, new_version)
    verdict = json.loads(
        str(session.run("orm-models", "check", "--baseline", str(ORM_MODELS / "schema-baseline.json"),
                        "--version", new_version, "--json", silent=True, success_codes=[0, 1]))
    )  # fmt: skip
    full = "--full-tests" in options
    gate = [*(o for o in options if o != "--full-tests"), "--required-bump", str(verdict["required_bump"])]
    _release_tool(session, "release", part, "--plan", "--preflight", *gate)
    session.install(f"{_build_wheel(session, ORM_MODELS)}[test,check]")  # [test]: pytest-alembic too
    report = Path(session.create_tmp()).resolve() / "release-tests.xml"
    with session.chdir(ORM_MODELS):
        narrowed = shlex.split(os.environ.get("ORM_RELEASE_PYTEST_ARGS", ""))
        env = {"PYTHONDONTWRITEBYTECODE": "1"}
        if full:
            session.log(f"release: orm-models' whole suite now, {RELEASE_SUITE_TIME}; a dot per test")
        elif not narrowed:
            narrowed = ["-m", "release"]
            session.log(f"release: orm-models' release-critical tests (-m release), {RELEASE_SUBSET_TIME}")
        selection = [] if full else narrowed
        session.run("pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *selection, env=env)
    # Never publish a model change without its migration: that check must have run, and passed.
    import xml.etree.ElementTree as ET

    # Our own pytest's report, written a moment ago into the session's directory.
    cases = ET.parse(report).getroot().iter("testcase")  # noqa: S314
    if not any(c.get("name") == MIGRATIONS_MATCH_MODELS and not list(c) for c in cases):
        session.error(f"release: orm-models' {MIGRATIONS_MATCH_MODELS} did not run and pass; refusing")
    _release_tool(session, "release", part, *gate, "--changelog", str(changelog))


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Re-lock each service against the running private index; fail if a lock holds a credential."""
    env = _index_env(session)
    # ORM_INDEX_URL moves the index named "private" (the lock then records that URL).
    moved = _index_args("") if os.environ.get("ORM_INDEX_URL") else []
    for service in SERVICES:
        admitted = " and ".join(dict.fromkeys(map(_pretty, _orm_models_ranges(service, ""))))
        session.log(
            f"{service}: locking orm-models{admitted} from "
            + (_index_simple_url() if moved else "the private index its pyproject names")
        )
        session.run(
            UV,
            "lock",
            "--directory",
            str(ROOT / service),
            *moved[:2],
            *session.posargs,
            env=env,
            external=True,
        )
        lock_text = (ROOT / service / "uv.lock").read_text()
        secrets = [v for v in (*env.values(), os.environ.get("UV_INDEX_PRIVATE_PASSWORD")) if v]
        if re.search(r"://[^/\s\"]*@", lock_text) or any(s in lock_text for s in secrets):
            session.error(f"{service}/uv.lock contains a credential; do not commit it")


@nox.session(venv_backend="none")
def uv(session: nox.Session) -> None:
    """uv itself, the one in .nox/_bootstrap: `-- lock --upgrade-package orm-models --directory DIR`.

    For the README's uv commands on a machine without uv. The index's read credential comes from
    UV_INDEX_PRIVATE_USERNAME/_PASSWORD, else from .index/credentials when `nox -s index` made it."""
    session.log(f"uv: {UV}")
    env = {} if not (INDEX_STATE / "credentials").exists() else _index_env(session)
    session.run(UV, *(session.posargs or ["--version"]), env=env, external=True)


@nox.session(python=PYTHON)
def versions(session: nox.Session) -> None:
    """The orm-models versions on the private index, lowest first (`python -m tools.release versions`)."""
    session.install(PYPI_SIMPLE)
    _release_tool(session, "versions", *session.posargs)


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
    and against the local wheel when its range admits that; prints the matrix (service x orm-models
    -> result), failed cells included. `-- api-service` picks services; `-- SERVICE -- -k x` passes
    pytest arguments. Cells run in parallel (one per core) in reused venvs."""
    chosen, pytest_args = list(session.posargs), []
    if "--" in chosen:
        split = chosen.index("--")
        chosen, pytest_args = chosen[:split], chosen[split + 1 :]
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown:
        session.error(f"compat: unknown service(s) {unknown}; choose from {SERVICES}")
    services = chosen or SERVICES
    session.install(TWINE, PYPI_SIMPLE, *_backend_requirements())
    _index_env(session)  # no credentials: say so before anything is built
    on_index = _release_tool(session, "versions", silent=True).split()
    local_version = _local_orm_models_version()
    local_wheel = _cached_wheel(session, ORM_MODELS)
    cells: list[_Cell] = []
    for service in services:
        from packaging.specifiers import SpecifierSet

        ranges = [SpecifierSet(spec) for spec in _orm_models_ranges(service)]
        admitted = [v for v in on_index if all(v in spec for spec in ranges)]
        if not admitted:
            session.error(f"no orm-models{','.join(map(str, ranges))} on the index: run `nox -s publish`")
        service_wheel = _cached_wheel(session, ROOT / service)
        choices = {f"{admitted[0]} (lowest)": f"=={admitted[0]}"}
        if admitted[-1] != admitted[0]:
            choices[f"{admitted[-1]} (highest)"] = f"=={admitted[-1]}"
        if all(local_version in spec for spec in ranges):
            choices[f"{local_version} (local wheel)"] = f" @ {local_wheel.resolve().as_uri()}"
        else:
            cells.append(
                _Cell(
                    service, f"{local_version} (local wheel)", "", service_wheel, "not admitted by its range"
                )
            )
        for label, pin in choices.items():
            cells.append(_Cell(service, label, f"orm-models[testing]{pin}", service_wheel))
    todo = [cell for cell in cells if not cell.result]
    tmp = Path(session.create_tmp())
    workers = max(1, min(len(todo), os.cpu_count() or 1))
    session.log(f"compat: {len(todo)} cell(s), {workers} at a time, in venvs kept under {tmp}")
    with ThreadPoolExecutor(max_workers=workers) as pool:  # uv's cache takes concurrent installs
        # Each cell asks for the index's credentials as it starts: a CodeArtifact token is then
        # replaced before it expires, however long the matrix runs.
        list(pool.map(lambda cell: cell.run(tmp, _index_env(session), pytest_args), todo))
    width = max(len(cell.service) for cell in cells)
    session.log("compat matrix (service x orm-models -> result):")
    for cell in cells:
        session.log(f"  {cell.service:<{width}}  {cell.label:<26} {cell.result}  {cell.seconds:5.1f}s")
    for cell in cells:
        if cell.result == "FAILED":
            session.log(f"--- {cell.service} x {cell.label} (last lines) ---\n{cell.output[-3000:]}")
    if any(cell.result == "FAILED" for cell in cells):
        session.error("compat: at least one service fails against an orm-models its range admits")


class _Cell:
    """One matrix cell: a service's tests in a venv of its own, with one orm-models."""

    def __init__(self, service: str, label: str, requirement: str, wheel: Path, result: str = "") -> None:
        self.service, self.label, self.requirement, self.wheel = service, label, requirement, wheel
        self.result, self.output, self.seconds, self.python = result, "", 0.0, ""

    def install(self, tmp: Path, env: dict[str, str]) -> None:
        """Create the cell's venv once; later runs only change what differs (`uv pip install`)."""
        started = time.monotonic()
        key = re.sub(r"[^A-Za-z0-9.]+", "-", f"{self.service}-{self.label}").strip("-")
        venv = tmp.resolve() / f"compat-{key}"
        self.python = str(venv / "bin" / "python")
        steps = [] if Path(self.python).exists() else [[UV, "venv", "--quiet", "--python", PYTHON, str(venv)]]
        install = [
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            self.python,
            "--reinstall-package",
            self.service,
        ]
        steps.append([*install, *_index_args(self.service), f"{self.wheel}[test]", self.requirement])
        for command in steps:
            done = subprocess.run(command, env=os.environ | env, capture_output=True, text=True, check=False)
            self.output += done.stdout + done.stderr
            if done.returncode != 0:
                self.result = "FAILED"
                break
        self.seconds += time.monotonic() - started

    def run(self, tmp: Path, env: dict[str, str], pytest_args: list[str]) -> None:
        self.install(tmp, env)
        if not self.result:
            self.test(pytest_args)

    def test(self, pytest_args: list[str]) -> None:
        started = time.monotonic()
        if not any((ROOT / self.service / "tests").rglob("test_*.py")):
            self.result = "installs; no tests"
        else:
            tests = subprocess.run(
                [self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
                cwd=ROOT / self.service, capture_output=True, text=True, check=False,
                env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"},
            )  # fmt: skip
            self.output += tests.stdout + tests.stderr
            self.result = {0: "passed", 5: "no tests"}.get(tests.returncode, "FAILED")
        self.seconds += time.monotonic() - started


def _cached_wheel(session: nox.Session, project: Path) -> Path:
    """`project`'s wheel, rebuilt only when its committed tree changed or it has local edits."""
    tree = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", f"HEAD:{project.relative_to(ROOT)}"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", str(project)],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if not tree or dirty:
        return _build_wheel(session, project)
    # Shared by every session: `tests` builds orm-models once for all its packages, `compat` reuses it.
    cache = ROOT / ".nox" / "_wheels" / f"{project.name}-{tree[:16]}"
    wheels = sorted(cache.glob("*.whl"))
    if len(wheels) == 1:
        session.log(f"{project.name}: reusing {wheels[0].name} (tree {tree[:12]} unchanged)")
        return wheels[0]
    built = _build_wheel(session, project)
    cache.mkdir(parents=True, exist_ok=True)
    kept = cache / built.name
    kept.write_bytes(built.read_bytes())
    return kept


if __name__ == "__main__":
    nox.main()
