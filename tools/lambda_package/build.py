"""Build a Lambda zip: the service's locked dependencies as manylinux wheels for the Lambda Python
runtime, plus the service's own wheel, at the zip's root (where Lambda puts /var/task on sys.path).

Nothing is resolved here: `uv export --frozen` turns uv.lock into pinned requirements with hashes,
and `uv pip install --require-hashes` refuses anything else, orm-models from the private index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

# The Lambda runtime this zip is for: python3.11 on x86_64 (Amazon Linux 2: glibc 2.26, so
# manylinux2014 wheels). Change both with the function's runtime and architecture.
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux2014"
# Lambda refuses a function whose unzipped code is larger than this.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Fixed timestamps: the same inputs give the same zip, byte for byte.
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    """The package cannot be built; the message says why."""


@dataclass(frozen=True)
class Package:
    path: Path
    version: str
    zipped_bytes: int
    unzipped_bytes: int


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"{' '.join(command[:3])} ... failed:\n{result.stdout}{result.stderr}")


def service_version(service_dir: Path) -> str:
    return str(tomllib.loads((service_dir / "pyproject.toml").read_text())["project"]["version"])


def build_zip(
    service_dir: Path, out_dir: Path, work: Path, uv: str, index_url: str, index_env: dict[str, str]
) -> Package:
    """Build `<name>-<version>-lambda.zip` in `out_dir`; `index_env` holds uv's index credentials."""
    name = service_dir.name
    version = service_version(service_dir)
    requirements = work / "requirements.txt"
    _run(
        [uv, "export", "--quiet", "--frozen", "--no-dev", "--no-emit-project", "--format",
         "requirements-txt", "--project", str(service_dir), "--output-file", str(requirements)]
    )  # fmt: skip
    wheels = work / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    _run([uv, "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(service_dir)])
    target = work / "package"
    shutil.rmtree(target, ignore_errors=True)
    install = [
        uv, "pip", "install", "--quiet", "--target", str(target),
        "--python-platform", PLATFORM, "--python-version", PYTHON_VERSION, "--only-binary", ":all:",
        # The private index first; `first-index`: a name it holds is never looked up elsewhere.
        "--index", f"private={index_url}", "--index-strategy", "first-index",
    ]  # fmt: skip
    env = {**os.environ, **index_env}
    _run([*install, "--require-hashes", "-r", str(requirements)], env=env)
    _run([*install, "--no-deps", *map(str, sorted(wheels.glob("*.whl")))], env=env)
    # Console scripts point at an interpreter that is not there: Lambda calls the handler.
    shutil.rmtree(target / "bin", ignore_errors=True)
    _strip_install_state(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{version}-lambda.zip"
    unzipped = _write_zip(target, path)
    if unzipped > MAX_UNZIPPED_BYTES:
        raise PackageError(f"{path.name}: {unzipped:,} bytes unzipped, over Lambda's {MAX_UNZIPPED_BYTES:,}")
    return Package(path, version, path.stat().st_size, unzipped)


def _strip_install_state(target: Path) -> None:
    """Drop what records this particular install (scratch paths, uv's cache keys), not the code."""
    (target / ".lock").unlink(missing_ok=True)
    for dist_info in target.glob("*.dist-info"):
        dropped = [name for name in _INSTALL_STATE if (dist_info / name).exists()]
        for name in dropped:
            (dist_info / name).unlink()
        record = dist_info / "RECORD"
        if dropped and record.exists():
            kept = [
                line
                for line in record.read_text().splitlines()
                if line.split(",", 1)[0] not in {f"{dist_info.name}/{name}" for name in dropped}
            ]
            record.write_text("\n".join(kept) + "\n")


_INSTALL_STATE = ("direct_url.json", "uv_cache.json")


def _write_zip(root: Path, path: Path) -> int:
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    total = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for file in files:
            info = zipfile.ZipInfo(file.relative_to(root).as_posix(), date_time=_EPOCH)
            # Readable by the runtime's user; executable bits kept for the shared libraries.
            info.external_attr = ((0o755 if os.access(file, os.X_OK) else 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = file.read_bytes()
            total += len(data)
            archive.writestr(info, data)
    return total
