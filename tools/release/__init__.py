"""Release tooling for orm-models: the private index, idempotent publishing, version bumps.

The nox sessions (`index`, `build`, `publish`, `release`, `compat`, `lock`) are thin wrappers over
`python -m tools.release ...`; the e2e tests import these modules directly.
"""

PROJECT = "orm-models"
"""The distribution this tooling releases."""


class ReleaseError(Exception):
    """Anything that must stop a release: printed as one clear line, exit status 1."""
