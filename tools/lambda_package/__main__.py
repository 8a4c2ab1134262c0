"""`python -m tools.lambda_package SERVICE_DIR --out-dir DIR --index-url URL`: what `nox -s package` runs.

uv's credentials for the index named "private" come from UV_INDEX_PRIVATE_USERNAME/_PASSWORD.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tools.lambda_package.build import PackageError, build_zip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service_dir", type=Path)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--index-url", required=True, help="simple URL of the private index")
    arguments = parser.parse_args()
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        print("package: uv not found: run `python3 noxfile.py -s package`, or set UV", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lambda-package-") as work:
        try:
            package = build_zip(
                arguments.service_dir,
                arguments.out_dir,
                Path(work),
                uv,
                arguments.index_url,
                {},
            )
        except PackageError as error:
            print(f"package: {error}", file=sys.stderr)
            return 1
    print(
        f"{package.path}: {package.zipped_bytes / 1e6:.1f} MB zipped, {package.unzipped_bytes / 1e6:.1f} MB "
        f"unzipped (Lambda's limits: 50 MB for a direct upload, 250 MB unzipped); handler: "
        "loader_service.handler.handler"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
