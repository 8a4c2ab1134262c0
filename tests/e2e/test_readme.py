"""What the READMEs say works, works: their runnable commands, their pip path, their references.

A `console` block right after a `<!-- runnable -->` line is run as written, line by line, in a
fresh clone of the committed tree, with the machine's `python3` (not this venv's) first on PATH.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import ROOT, isolated_env, new_venv, run, scratch_clone, uv_bin
from tools.release import releases
from tools.release.credentials import Credentials
from tools.release.index import IndexServer, write_htpasswd

RUNNABLE = "<!-- runnable -->"
READMES = sorted(
    ROOT / name
    for name in subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "README.md", "*/README.md"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
)  # fmt: skip


def runnable_commands(text: str) -> list[str]:
    """Each command of each runnable console block; `\\`-continued lines joined."""
    commands: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.strip() != RUNNABLE:
            continue
        fence = next(lines, "")
        assert fence.strip() == "```console", f"{RUNNABLE} must precede a ```console block, not {fence!r}"
        pending = ""
        for body in lines:
            if body.strip() == "```":
                break
            pending += body
            if pending.endswith("\\"):
                pending = pending[:-1]
                continue
            if pending.strip():
                commands.append(pending.strip())
            pending = ""
    return commands


def _without_this_venv(env: dict[str, str]) -> dict[str, str]:
    """PATH as a fresh shell has it: nox put this test venv's bin/ (with its own nox) first."""
    venv_bin = str(Path(sys.executable).parent)
    kept = [part for part in env.get("PATH", "").split(os.pathsep) if part and part != venv_bin]
    return env | {"PATH": os.pathsep.join(kept)}


def test_readmes_mark_runnable_blocks() -> None:
    assert runnable_commands((ROOT / "README.md").read_text()), "the README marks no runnable block"


@pytest.fixture
def traversable_dir() -> Iterator[Path]:
    """A scratch directory every user may enter: as root, the embedded PostgreSQL runs its
    binaries (inside the clone's `.nox/`) as the `postgres` user, which pytest's 0700 tmp_path
    would lock out."""
    path = Path(tempfile.mkdtemp(prefix="readme-clone-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_runnable_readme_commands_work_on_a_fresh_clone(traversable_dir: Path) -> None:
    clone = scratch_clone(traversable_dir / "clone", "readme@example.invalid", "README test")
    bootstrap = ROOT / ".nox" / "_bootstrap"
    if bootstrap.is_dir():
        # What the first `python3 noxfile.py` installs (nox and uv, from pip): shared rather
        # than downloaded again. Everything else the commands need, they install themselves.
        (clone / ".nox").mkdir()
        (clone / ".nox" / "_bootstrap").symlink_to(bootstrap)
    env = _without_this_venv(isolated_env())
    for readme in READMES:
        for command in runnable_commands(readme.read_text()):
            result = run(["bash", "-euo", "pipefail", "-c", command], cwd=clone, env=env, timeout=300)
            where = f"{readme.relative_to(ROOT)}: {command}"
            assert result.returncode == 0, f"{where}\n{result.output[-3000:]}"
            assert result.output.strip(), f"{where} printed nothing"


def test_release_history_lists_every_recorded_release() -> None:
    """The README's table row per release in releases.toml, with the migration head it shipped."""
    text = (ROOT / "README.md").read_text()
    table = text.split("### Release history", 1)[1].split("\n\n", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("|")][2:]  # past header, rule
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines)}
    for known in releases.load(ROOT):
        assert known.version in rows, f"README's release history has no row for {known.version}"
        assert known.migration_head in rows[known.version][2], (known.version, rows[known.version])
    assert set(rows) == {known.version for known in releases.load(ROOT)}


def test_no_reference_to_a_document_that_does_not_exist() -> None:
    """No citation of a numbered section of a DESIGN document (the repository has none), and
    every relative Markdown link resolves in the tree."""
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "*.md", "*.py", "*.toml", "*.yaml", "*.html", "*.js"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    problems: list[str] = []
    for name in tracked:
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        problems += [f"{name}: {m.group(0)}" for m in re.finditer(r"\bDESIGN(?:\.md)?\s*§\s*\d+", text)]
        if name.endswith(".md"):
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
                if "://" not in target and not (path.parent / target).exists():
                    problems.append(f"{name}: link to {target}")
    assert not problems, problems


@pytest.fixture(scope="module")
def read_only_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """An authenticated pypiserver (no anonymous reads) holding one orm-models file name."""
    work = tmp_path_factory.mktemp("readme-index")
    packages = work / "packages"
    packages.mkdir()
    # pypiserver lists files by name; the tool only reads the listing, never this file's bytes.
    (packages / "orm_models-9.9.9-py3-none-any.whl").write_bytes(b"")
    reader = Credentials("reader", "readme-test-password")
    write_htpasswd(work / "htpasswd", reader)
    with IndexServer(packages, reader, htpasswd=work / "htpasswd", log=work / "index.log") as server:
        yield server


def test_the_documented_pip_install_without_a_credential_fails_in_one_line(
    read_only_index: IndexServer, tmp_path: Path
) -> None:
    """The README's pip command, with no .netrc and no terminal: pip's error, not an EOFError."""
    text = (ROOT / "README.md").read_text()
    # The local index's command (the CodeArtifact section has pip lines of its own).
    local = "http://127.0.0.1:8080/"
    [command] = [line for line in text.splitlines() if line.startswith("pip install ") and local in line]
    documented = re.search(r"without a credential it stops with `([^`]+)`", text)
    assert documented, "the README no longer says what the pip command prints without a credential"
    argv = [arg.replace(local, read_only_index.url) for arg in shlex.split(command)]
    assert read_only_index.simple_url in argv, f"the README's pip command names no index: {command}"
    env = {k: v for k, v in isolated_env(HOME=str(tmp_path)).items() if k not in ("PIP_NO_INPUT", "NETRC")}
    done = subprocess.run(
        [sys.executable, "-m", *argv, "--target", str(tmp_path / "target")],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    assert "EOFError" not in output, output
    assert documented.group(1) in output, output


def test_release_tool_without_its_dependencies_says_how_to_run_it(
    read_only_index: IndexServer, tmp_path: Path
) -> None:
    """`python3 -m tools.release ...` where packaging or pypi-simple is missing: one line, exit 2."""
    python = new_venv(tmp_path / "bare")
    # ORM_REPO_ROOT and HOME: no .index/credentials or .pypirc of this checkout's user is read.
    env = isolated_env(PYTHONPATH=str(ROOT), ORM_REPO_ROOT=str(tmp_path), HOME=str(tmp_path))
    for args, session in ((["--help"], "-l"), (["versions"], "-s versions")):
        result = run([str(python), "-m", "tools.release", *args], cwd=ROOT, env=env)
        assert result.returncode == 2, result.output
        assert result.output.strip().splitlines() == [result.output.strip()], result.output
        assert "'packaging'" in result.output, result.output
        assert f"python3 noxfile.py {session}" in result.output, result.output
    # With packaging but not pypi-simple: the listing is fetched, then parsing needs pypi-simple.
    installed = run([uv_bin(), "pip", "install", "--quiet", "--python", str(python), "packaging"], env=env)
    assert installed.returncode == 0, installed.output
    reader = read_only_index.credentials
    assert reader is not None
    result = run(
        [str(python), "-m", "tools.release", "versions"], cwd=ROOT,
        env=env | {"ORM_INDEX_URL": read_only_index.url, "UV_INDEX_PRIVATE_USERNAME": reader.username,
                   "UV_INDEX_PRIVATE_PASSWORD": reader.password},
    )  # fmt: skip
    assert result.returncode == 2, result.output
    assert "'pypi_simple'" in result.output, result.output
    assert "python3 noxfile.py -s versions" in result.output, result.output
    assert "Traceback" not in result.output, result.output
    assert reader.password not in result.output
