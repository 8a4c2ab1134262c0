"""`orm-models revision`: a new migration revision in the source tree, linted and version-checked.

Revisions are numbered like the ones already shipped (`0001`, `0002a`, ...): the next one is the
highest leading number plus one, in a file `rev_<id>_<slug of the message>.py`. Generation runs
in a fresh interpreter on the tree's own `orm_models` (see `generate.py`).
"""

import datetime
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

import orm_models
from orm_models.authoring.rename import Rename, contract_source, expand_source
from orm_models.schema.lint import RevisionLint, head_of, heads_of, lint_revision, lint_revisions
from orm_models.schema.manifest import Manifest
from orm_models.schema.sources import read_manifest, revision_sources

PHASES = ("expand", "contract")
_PACKAGE_PARTS = ("orm_models", "migrations", "versions")
_GENERATE_SCRIPT = Path(__file__).resolve().parent / "generate.py"
_LEADING_NUMBER = re.compile(r"^(\d+)")


class RevisionWriteError(RuntimeError):
    """Alembic could not write the revision (e.g. the database is behind, the history has two heads)."""


@dataclass(frozen=True)
class NewRevision:
    """A revision `new_revision` wrote.

    Attributes:
        path: The file.
        lint: The migration lint of the file.
        src_dir: The source directory holding the tree's `orm_models`, when the file is in one.
        empty: Autogenerate found no difference between the models and the migrations.
    """

    path: Path
    lint: RevisionLint
    src_dir: Path | None
    empty: bool = False


def find_versions_dir(explicit: Path | None = None, start: Path | None = None) -> Path:
    """The `migrations/versions` directory of the orm-models source tree to write into.

    `explicit` when given; else the first `src/orm_models/...` or `orm-models/src/orm_models/...`
    from `start` (default: the working directory) upwards; else the imported `orm_models` when it
    is a source checkout (an editable install). An installed wheel is never written to.

    Raises:
        ValueError: No such directory.
    """
    if explicit is not None:
        if not explicit.is_dir():
            raise ValueError(f"--versions-dir {explicit}: no such directory")
        return explicit.resolve()
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for src in (directory / "src", directory / "orm-models" / "src"):
            versions = src.joinpath(*_PACKAGE_PARTS)
            if versions.is_dir():
                return versions
    package = Path(str(orm_models.__file__)).resolve().parent
    if not {"site-packages", "dist-packages"} & set(package.parts):
        return package / "migrations" / "versions"
    raise ValueError(
        f"no orm-models source tree at or above {here} (src/orm_models/migrations/versions), and "
        f"the imported orm_models is an installed package ({package}), which is never written to: "
        "run this inside a checkout of orm-models, or pass --versions-dir"
    )


def _src_dir(versions_dir: Path) -> Path | None:
    """The directory holding `orm_models` when `versions_dir` is `.../orm_models/migrations/versions`."""
    if versions_dir.parts[-3:] == _PACKAGE_PARTS and (versions_dir.parents[1] / "__init__.py").is_file():
        return versions_dir.parents[2]
    return None


def _tree(versions_dir: Path) -> list[RevisionLint]:
    return lint_revisions(revision_sources(versions_dir))


def next_revision_id(versions_dir: Path, after: int = 1) -> str:
    """The id `after` past the highest-numbered revision in `versions_dir` (`0004` after `0003`)."""
    numbers = [
        (int(match.group(1)), len(match.group(1)))
        for result in _tree(versions_dir)
        if (match := _LEADING_NUMBER.match(result.revision))
    ]
    highest, width = max(numbers, default=(0, 4))
    return f"{highest + after:0{max(width, 4)}d}"


def new_rename(spec: str, phase: str = "expand", *, versions_dir: Path | None = None) -> NewRevision:
    """Write one revision of a column rename (`table.old:new`), and lint it.

    The two revisions ship in two releases, so each is written when its release is prepared:
    "expand" adds the new column (the type the tree's models give either name), a trigger
    keeping both in step, and a batched backfill; "contract", once every service maps the new
    name, drops the trigger and the old column, depending on the rename's expand revision
    (found in the tree). See `orm_models.authoring.rename`.

    Raises:
        ValueError: A bad spec or phase, no source tree, the models map neither column, or for
            "contract": the tree holds no expand revision of this rename, or already its contract.
        RevisionWriteError: The tree's models could not be read.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    rename = Rename.parse(spec)
    versions = find_versions_dir(versions_dir)
    src_dir = _src_dir(versions)
    column = _generate(
        {"describe": True, "src_dir": str(src_dir) if src_dir else None, "table": rename.table,
         "columns": [rename.new, rename.old]}
    )  # fmt: skip
    tree = _tree(versions)
    released = _released_schema(src_dir)
    revision, date = next_revision_id(versions), datetime.date.today().isoformat()
    if phase == "expand":
        if rename.new in released.get("tables", {}).get(rename.table, {}).get("columns", {}):
            raise ValueError(
                f"--rename {rename.spec}: {rename.table} already has a column {rename.new} "
                f"(released in {released.get('version')}): pick a new name"
            )
        source = expand_source(
            rename, revision, head_of(tree), str(column["type"]), str(column["primary_key"]), date
        )
    else:
        expand = _rename_revision(rename, versions, tree)
        if released and expand not in released.get("migrations", ()):
            print(
                f"warning: the rename's expand revision {expand} is not released yet: release it as a "
                "minor first (the minor's models map both names; the contracted schema has only one)",
                file=sys.stderr,
            )
        contract_heads = [h for h in (heads_of(tree) or "").split() if h != head_of(tree)]
        down = contract_heads[0] if contract_heads else None
        source = contract_source(rename, revision, down, expand, str(column["type"]), date)
    path = versions / f"rev_{revision}_{_slug(rename.slug)}_{phase}.py"
    path.write_text(source, encoding="utf-8")
    _format(path)
    return NewRevision(
        path=path, lint=lint_revision(path.read_text(encoding="utf-8"), path.name), src_dir=src_dir
    )


def _released_schema(src_dir: Path | None) -> Manifest:
    """The last release's schema manifest (the tree's schema-baseline.json), {} when there is none."""
    from orm_models.schema.check import BASELINE_NAME  # the check's stack loads only when it runs

    baseline = src_dir.parent / BASELINE_NAME if src_dir else None
    return read_manifest(baseline) if baseline is not None and baseline.is_file() else {}


def _rename_revision(rename: Rename, versions: Path, tree: list[RevisionLint]) -> str:
    """The rename's expand revision (its `rename = "table.old:new"`); refuses a second contract."""
    sources = revision_sources(versions)
    marker = re.compile(rf'^rename = "{re.escape(rename.spec)}"$', re.MULTILINE)
    found = {lint.phase: lint.revision for lint in tree if marker.search(sources.get(lint.filename, ""))}
    if "contract" in found:
        raise ValueError(f"--rename {rename.spec}: revision {found['contract']} is already its contract")
    if "expand" not in found:
        raise ValueError(
            f"--rename {rename.spec} --phase contract: the tree holds no expand revision of this rename: "
            f"write it first (orm-models revision --rename {rename.spec}) and release it as a minor"
        )
    return found["expand"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def new_revision(
    message: str,
    phase: str,
    *,
    autogenerate: bool = False,
    versions_dir: Path | None = None,
    database_url: URL | None = None,
) -> NewRevision:
    """Write a revision chained after the tree's newest one, and lint it.

    Args:
        message: What the revision does; its docstring and file name.
        phase: "expand" or "contract" (a contract revision lists what it drops in `drops`).
        autogenerate: Fill in the operations that bring the tree's migrations to its models.
        versions_dir: Where to write it; found by `find_versions_dir` when omitted.
        database_url: The database autogenerate compares on: at the newest revision, or never
            migrated (then a scratch database on its server is migrated, compared on and
            dropped; it is left alone); an embedded PostgreSQL when omitted.

    Raises:
        ValueError: A bad phase or message, no source tree, or no database for autogenerate.
        RevisionWriteError: Alembic could not write it; the message says why.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    if not re.search(r"\w", message):
        raise ValueError("the message must say what the revision does (it names the file)")
    versions = find_versions_dir(versions_dir)
    src_dir = _src_dir(versions)
    migrations_dir = versions.parent if (versions.parent / "env.py").is_file() else _installed_migrations()
    request: dict[str, object] = {
        "src_dir": str(src_dir) if src_dir else None,
        "migrations_dir": str(migrations_dir),
        "versions_dir": str(versions),
        "rev_id": next_revision_id(versions),
        "message": message,
        "phase": phase,
        # A contract revision runs after the expand that replaced what it removes.
        "depends_on": head_of(_tree(versions)) if phase == "contract" else None,
        "autogenerate": autogenerate,
        "url": None,
        "migrate_first": False,
    }
    if not autogenerate:
        reply = _generate(request)
    elif database_url is not None:
        reply = _generate({**request, "url": database_url.render_as_string(hide_password=False)})
    else:
        with _scratch_database() as url:
            reply = _generate({**request, "url": url, "migrate_first": True})
    path = Path(str(reply["path"]))
    _format(path)
    lint = lint_revision(path.read_text(encoding="utf-8"), path.name)
    return NewRevision(path=path, lint=lint, src_dir=src_dir, empty=bool(reply["empty"]) and autogenerate)


def _installed_migrations() -> Path:
    return Path(str(orm_models.__file__)).resolve().parent / "migrations"


@contextmanager
def _scratch_database() -> Iterator[str]:
    """An embedded PostgreSQL for autogenerate to migrate and compare on, removed afterwards."""
    try:
        from orm_models.testing.postgres import PostgresUnavailable, embedded_postgres
    except ImportError as error:  # pragma: no cover - the testing module ships in the wheel
        raise ValueError(f"--autogenerate needs a database: {error}") from None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="orm-models-revision-") as scratch:
        try:
            server = embedded_postgres(Path(scratch) / "data")
            server.start()
        except PostgresUnavailable as error:
            raise ValueError(
                "--autogenerate needs a database: set DATABASE_URL (at the newest revision) or "
                f"pip install 'orm-models[testing]' for an embedded one ({error})"
            ) from None
        try:
            yield server.url
        finally:
            server.stop()


def _generate(request: dict[str, object]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, str(_GENERATE_SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        reply: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RevisionWriteError(f"could not write the revision: {result.stderr.strip()[-2000:]}") from None
    if "invalid" in reply:
        raise ValueError(str(reply["invalid"]))
    if "error" in reply:
        raise RevisionWriteError(f"could not write the revision: {reply['error']}")
    return reply


def _ruff() -> list[str] | None:
    """ruff beside this interpreter (orm-models[check] and [test] install it), else on PATH."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    return [found] if found else None


def _format(path: Path) -> None:
    """Leave the file as `nox -s lint` wants it: imports sorted (`ruff check --fix`), then formatted.

    Alembic's autogenerate renders strings with single quotes; the repository's ruff
    configuration (found from the file's directory) wants double quotes.
    """
    ruff = _ruff()
    if ruff is None:
        print(f"orm-models: ruff not found (pip install 'orm-models[check]'): run `ruff format {path}`")
        return
    for command in (["check", "--fix-only", "--quiet"], ["format", "--quiet"]):
        subprocess.run([*ruff, *command, str(path)], check=False, capture_output=True, cwd=path.parent)


def describe(written: NewRevision, baseline: Path | None = None) -> tuple[str, bool]:
    """What to tell the author: the file, its lint, and what the version check now says.

    The check compares the tree with `baseline` (default: the tree's `schema-baseline.json`).

    Returns:
        The report, and whether the lint accepts the new revision.
    """
    lint = written.lint
    after = lint.down_revision or "nothing (the first revision)"
    lines = [f"wrote {written.path}", f"  revision {lint.revision}, phase {lint.phase}, after {after}"]
    if written.empty:
        lines.append("  autogenerate found no difference between the models and the migrations: it is empty")
    lines += ["", *_lint_lines(lint), ""]
    lines += _check_lines(written, baseline)
    return "\n".join(lines), not lint.unsafe


def _lint_lines(lint: RevisionLint) -> list[str]:
    if not lint.findings:
        return [f"Migration lint of {lint.revision}: ok"]
    lines = [f"Migration lint of {lint.revision}: {'UNSAFE' if lint.unsafe else 'ok'}"]
    for finding in lint.findings:
        if finding.accepted:
            lines.append(f"  accepted {finding.key}: {finding.problem} - reason: {finding.accepted}")
        else:
            lines += [
                f"  UNSAFE {finding.key}: {finding.problem}",
                f"    safe route: {finding.route}",
                f'    or, if it is safe here: unsafe_ok = {{"{finding.key}": "<why>"}}',
            ]
    return lines


def _check_lines(written: NewRevision, baseline: Path | None) -> list[str]:
    src_dir = written.src_dir
    if src_dir is None:
        return ["Version check: not run (the revision is not in an orm_models source tree)"]
    baseline = baseline or src_dir.parent / "schema-baseline.json"
    command = f"orm-models check --baseline {baseline} --current {src_dir}"
    if not baseline.is_file():
        return [f"Version check: no baseline at {baseline}; pass --baseline"]
    try:
        from orm_models.schema.check import run_check
        from orm_models.schema.report import to_table

        result = run_check(baseline, src_dir)
    except ModuleNotFoundError as error:
        if error.name != "griffe":
            raise
        return [f"Version check: needs griffe (pip install 'orm-models[check]'), then: {command}"]
    except ValueError as error:
        return [f"Version check: cannot run it ({error}); run: {command}"]
    verdict = result.verdict
    return [
        f"What `{command}` says now:",
        "",
        *(f"  {line}" for line in to_table(result).splitlines()),
        "",
        f"The next release needs at least {verdict.minimum_version} "
        f"(a {verdict.required} bump over {verdict.baseline_version}).",
    ]
