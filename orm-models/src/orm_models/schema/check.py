"""`orm-models check`: baseline -> current diff, version gate and migration lint in one result."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from .changes import Change
from .dbcompare import compare_database, database_server, merge, package_tree
from .diff import diff_manifests
from .lint import lint_revisions, unreleased
from .manifest import Manifest
from .report import CheckResult, attribute
from .sources import installed_manifest, installed_revision_sources, read_manifest, revision_sources
from .versioning import parse_version, verdict
from .witnesses import run_witnesses


def load_pair(baseline: Path, current: Path | None) -> tuple[Manifest, Manifest]:
    """The baseline manifest and the current one (the installed package when `current` is None).

    Raises:
        ValueError: Either cannot be read.
    """
    return read_manifest(baseline), (read_manifest(current) if current else installed_manifest())


def changes_with_database(
    old: Manifest,
    new: Manifest,
    current: Path | None,
    *,
    database: bool = True,
    database_url: str | None = None,
) -> list[Change]:
    """The manifests' diff plus what only the migrated databases show (for the changelog).

    A bare manifest file ships no migrations: then the manifests' diff alone.
    """
    changes = diff_manifests(old, new)
    if not database or (current is not None and current.suffix == ".json"):
        return changes
    with database_server(database_url) as server:
        compared = compare_database(current, old.get("migration_head"), server)
    return merge(changes, compared.changes)


BASELINE_NAME = "schema-baseline.json"


def find_baseline(start: Path) -> Path:
    """The committed baseline seen from `start`: `orm-models/` itself, or the repository root.

    Only these two places: a baseline picked up from some directory above would be a guess.

    Raises:
        ValueError: There is none.
    """
    for candidate in (start / BASELINE_NAME, start / "orm-models" / BASELINE_NAME):
        if candidate.is_file():
            return candidate
    raise ValueError(f"no --baseline given and no {BASELINE_NAME} in {start} or {start / 'orm-models'}")


def run_check(
    baseline: Path,
    current: Path | None = None,
    version: str | None = None,
    *,
    database: bool = False,
    database_url: str | None = None,
    witnesses: bool = True,
) -> CheckResult:
    """Diff `baseline` -> `current`, judge `version` (default: the current manifest's) and lint.

    The revisions linted are those the baseline did not ship, read from the current wheel, tree
    or installed package (a bare manifest file carries none). With `database`, scratch databases
    are migrated too (`dbcompare.py`): what only they show joins the changes, and a difference
    between migrations and models is reported as drift. With `database` and `witnesses`, the
    witnesses run on the same server (`witnesses.py`): every operation that breaks is a major
    change with its evidence.

    Raises:
        ValueError: A manifest cannot be read or a version is not `X.Y.Z`.
    """
    if version is not None:
        parse_version(version)  # a bad --version is refused before anything slow runs
    old = read_manifest(baseline)
    # A bare manifest file ships no migrations: nothing to migrate.
    migrate = database and not (current is not None and current.suffix == ".json")
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=2) as pool:
        # Every part mostly waits on a child process: migrate and witness while the manifest is built.
        server = stack.enter_context(database_server(database_url)) if migrate else None
        pending = (
            pool.submit(compare_database, current, old.get("migration_head"), server) if server else None
        )
        witnessed = None
        if server and witnesses:
            tree = stack.enter_context(package_tree(current))
            witnessed = pool.submit(
                run_witnesses, server, tree, baseline, str(old["version"]), old.get("migration_head")
            )
        new = read_manifest(current) if current else installed_manifest()
        version = version or new.get("version")
        if not version or not old.get("version"):
            raise ValueError("no version to check: pass --version")
        parse_version(version)
        changes = diff_manifests(old, new)
        drift: list[str] | None = None
        if pending is not None:
            compared = pending.result()
            changes, drift = merge(changes, compared.changes), compared.drift
        report = witnessed.result() if witnessed is not None else None
        if report is not None:
            changes += report.changes()
    sources = revision_sources(current) if current else installed_revision_sources()
    revisions = unreleased(lint_revisions(sources), old.get("migrations"), old.get("migration_head"))
    return CheckResult(
        baseline=str(baseline),
        baseline_head=old.get("migration_head"),
        current_head=new.get("migration_head"),
        changes=changes,
        verdict=verdict(str(old["version"]), version, changes),
        revisions=revisions,
        attribution=attribute(changes, revisions),
        drift=drift,
        witnesses=report,
    )
