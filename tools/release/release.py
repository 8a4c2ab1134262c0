"""`nox -s release -- {major|minor|patch}`: bump, changelog, commit, build, check, publish, record.

Every step that can fail runs before the next one changes anything it cannot redo: a re-run after a
failed upload resumes the same version instead of bumping again, and the upload is idempotent.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.release import ReleaseError, build, changelog, git, releases, version
from tools.release.credentials import Target
from tools.release.publish import publish

CHANGELOG = Path("CHANGELOG.md")
BASELINE = Path("orm-models/schema-baseline.json")
"""The schema manifest of the last release: `orm-models check` diffs the tree against it."""


@dataclass(frozen=True)
class Step:
    """The version a release will publish, and whether its release commit already exists."""

    version: str
    resume: bool


def plan(root: Path, part: str) -> Step:
    """Refuse a dirty tree or no git identity; decide the next version from the last recorded release."""
    git.require_identity(root)
    git.require_clean(root)
    current = version.read(root)
    recorded = [release.version for release in releases.load(root)]
    if current in recorded:
        return _tag_free(root, Step(version.bump(current, part), resume=False))
    last = max(recorded, key=version.parse) if recorded else None
    if last is not None and current == version.bump(last, part):
        # A previous run committed the bump but did not get to record the release.
        _require_bump_commit_at_head(root, current)
        return _tag_free(root, Step(current, resume=True))
    raise ReleaseError(
        f"{version.ABOUT} says {current}, which is neither a recorded release nor the {part} bump "
        f"of the last one ({last}); set it back to {last} or record it in {releases.RELEASES}"
    )


def tag_name(new_version: str) -> str:
    return f"orm-models-v{new_version}"


def _tag_free(root: Path, step: Step) -> Step:
    """The release ends by tagging; a tag of that name already there would fail it after the upload."""
    tag = tag_name(step.version)
    if git.git(root, "tag", "--list", tag):
        raise ReleaseError(
            f"tag {tag} already exists ({git.git(root, 'rev-parse', '--short', tag + '^{commit}')}): "
            "was this version released from another branch? Nothing was changed"
        )
    return step


def require_breaking_change(part: str, required_bump: str, allow_empty_major: bool) -> None:
    """A major says "your code may break": refuse one the schema gate found no breaking change for."""
    if part == "major" and required_bump != "major" and not allow_empty_major:
        raise ReleaseError(
            f"refusing a major release: the schema gate found no breaking change (it needs {required_bump}); "
            "release a minor or patch, or pass --allow-empty-major if the break is outside the schema"
        )


def bump_subject(new_version: str) -> str:
    """The subject of the commit that bumps `__about__.py` to `new_version`: the commit released."""
    return f"orm-models {new_version}"


def _require_bump_commit_at_head(root: Path, new_version: str) -> None:
    """A resumed release builds HEAD, so HEAD must be the bump commit, not whatever came after it."""
    subject = bump_subject(new_version)
    if git.git(root, "log", "-1", "--format=%s", "HEAD") == subject:
        return
    found = [
        line.split(" ", 1)[0]
        for line in git.git(root, "log", "--format=%H %s", "HEAD").splitlines()
        if line.split(" ", 1)[1:] == [subject]
    ]
    where = (
        f"check out its bump commit first (`git checkout {found[0]}`, {subject!r}) and run it again"
        if found
        else f"no commit {subject!r} is in HEAD's history; set {version.ABOUT} back to the last release"
    )
    raise ReleaseError(
        f"refusing to resume the release of {new_version}: HEAD ({git.head(root)[:12]}) is not its bump "
        f"commit, and a resumed release publishes HEAD; {where}"
    )


def run(
    root: Path, part: str, target: Target, uv: str, work_dir: Path, generated_changelog: str = ""
) -> None:
    """The whole release; `generated_changelog` is the schema tool's section body, if any."""
    step = plan(root, part)
    if step.resume:
        print(f"resuming the release of {step.version}: bumped and committed, not yet recorded")
    else:
        bumped = [str(version.ABOUT), str(CHANGELOG)]
        try:
            version.write(root, step.version)
            today = datetime.datetime.now(datetime.UTC).date().isoformat()
            text = (root / CHANGELOG).read_text(encoding="utf-8")
            body = _without_heading(generated_changelog)
            (root / CHANGELOG).write_text(
                changelog.add_release(text, step.version, today, body), encoding="utf-8"
            )
            git.commit(root, bump_subject(step.version), *bumped)
        except ReleaseError as error:
            git.restore(root, *bumped)
            raise ReleaseError(f"{error}; nothing was changed: the tree is as it was") from None
        print(f"bumped orm-models to {step.version} ({part}); CHANGELOG section written and committed")
    release_commit = git.head(root)
    resume = f"fix the cause and run the same release command again: it resumes {step.version}"
    try:
        dists = build.build(root, release_commit, work_dir / "dist", uv, work_dir)
        build.twine_check(dists)
        print(f"built and checked: {', '.join(dist.name for dist in dists)}")
        publish(dists, target)
    except ReleaseError as error:
        raise ReleaseError(f"{error}; the bump commit stays, nothing was recorded; {resume}") from None
    recorded = [str(releases.RELEASES)]
    try:
        releases.append(root, releases.Release(step.version, release_commit, releases.migration_head(root)))
        if (root / BASELINE).exists():
            _refresh_baseline(root, dists[0])
            recorded.append(str(BASELINE))
        git.commit(root, f"Record the orm-models {step.version} release", *recorded)
    except ReleaseError as error:
        git.restore(root, str(releases.RELEASES), str(BASELINE))
        raise ReleaseError(f"{error}; {step.version} is published but not recorded; {resume}") from None
    try:
        git.git(root, "tag", "-a", tag_name(step.version), release_commit, "-m", f"orm-models {step.version}")
    except ReleaseError as error:
        raise ReleaseError(
            f"{error}; {step.version} is published and recorded; tag it yourself: "
            f"git tag -a {tag_name(step.version)} {release_commit[:12]} -m 'orm-models {step.version}'"
        ) from None
    print(f"released orm-models {step.version} from {release_commit[:12]}; recorded in {releases.RELEASES}")


def _without_heading(section: str) -> str:
    """`orm-models changelog` renders a whole section; its `## [x] - date` line is ours to write."""
    lines = section.strip().splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("## [") else lines).strip()


def _refresh_baseline(root: Path, wheel: Path) -> None:
    """The published wheel's manifest becomes the baseline the next release is checked against."""
    cli = shutil.which("orm-models")
    if cli is None:
        raise ReleaseError("`orm-models` (with the [check] extra) must be installed to refresh the baseline")
    result = subprocess.run(
        [cli, "manifest", "--from", str(wheel), "--output", str(root / BASELINE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"refreshing {BASELINE} failed: {result.stderr.strip() or result.stdout.strip()}")
