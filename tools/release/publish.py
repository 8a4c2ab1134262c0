"""Idempotent upload with twine: same file already there -> skip; anything else for that version -> refuse."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.release import PROJECT, ReleaseError
from tools.release.credentials import Target
from tools.release.dist_identity import RefusedDistributionError, identify
from tools.release.distfiles import dist_key
from tools.release.simple import public_url, published_files

TWINE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Plan:
    """What an upload will do, decided from the index's own hashes before anything is sent."""

    upload: list[Path]
    skip: list[Path]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plan(dists: list[Path], published: dict[str, str | None]) -> Plan:
    """Split `dists` into new files and files already published identically.

    A published version is immutable: once the index holds any file of a version, a file of that
    version is either one of those files, byte for byte (skipped), or an error; a new file name for
    it (another build tag, a late sdist) is refused like different content. Every problem is
    reported at once.
    """
    on_index: dict[tuple[str, str], list[str]] = {}
    for name in published:
        key = dist_key(name)
        if key is not None:
            on_index.setdefault(key, []).append(name)
    upload: list[Path] = []
    skip: list[Path] = []
    conflicts: list[str] = []
    additions: list[str] = []
    for dist in dists:
        key = dist_key(dist.name)
        if key is None:
            raise ReleaseError(f"refusing to publish {dist.name}: not a wheel or sdist file name")
        if dist.name in published:
            if published[dist.name] == sha256(dist):
                skip.append(dist)
            else:
                conflicts.append(f"{dist.name} (index sha256 {published[dist.name]}, local {sha256(dist)})")
        elif key in on_index:
            held = ", ".join(sorted(on_index[key]))
            additions.append(f"{dist.name} (its version is already published as {held})")
        else:
            upload.append(dist)
    problems = []
    if conflicts:
        problems.append(
            "the index already holds a different file for the same version: " + "; ".join(conflicts)
        )
    if additions:
        problems.append(
            "the index already holds this version, and a new file would change it for its consumers: "
            + "; ".join(additions)
        )
    if problems:
        raise ReleaseError(
            "refusing to publish: published versions are immutable; bump the version instead. "
            + " | ".join(problems)
        )
    return Plan(upload, skip)


def publish(dists: list[Path], target: Target) -> Plan:
    """Upload what the index lacks with twine, then verify the index serves exactly our files.

    Each file is first judged as the index's guard judges it (name and version from its metadata,
    canonical file name, no local version): a file the index would refuse is never sent.
    """
    for dist in dists:
        try:
            identify(dist.name, dist.read_bytes())
        except RefusedDistributionError as refused:
            raise ReleaseError(f"refusing to publish: {refused}") from None
    published = published_files(target.simple_url, PROJECT, target.credentials)
    steps = plan(dists, published)
    for dist in steps.skip:
        print(f"skip    {dist.name}: already on {public_url(target.simple_url)} with the same sha256")
    if steps.upload:
        _twine_upload(steps.upload, target)
        after = published_files(target.simple_url, PROJECT, target.credentials)
        for dist in steps.upload:
            if after.get(dist.name) not in (sha256(dist), None) or dist.name not in after:
                raise ReleaseError(f"{dist.name} was uploaded but the index does not serve it unchanged")
            print(f"publish {dist.name} -> {public_url(target.upload_url)}")
    return steps


def _twine_upload(dists: list[Path], target: Target) -> None:
    command = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    if target.pypirc is not None:
        command += ["--config-file", str(target.pypirc), "--repository", "private"]
    else:
        command += ["--repository-url", target.upload_url]
        # Through the environment, not argv: a command line is visible to every local user.
        env |= {"TWINE_USERNAME": target.credentials.username, "TWINE_PASSWORD": target.credentials.password}
    try:
        result = subprocess.run(
            [*command, *map(str, dists)],
            env=env,
            capture_output=True,
            text=True,
            timeout=TWINE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"twine upload did not finish within {TWINE_TIMEOUT_SECONDS}s") from None
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise ReleaseError("twine upload failed: " + " | ".join(line.strip() for line in detail[-4:] if line))
