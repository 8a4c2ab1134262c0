"""pytest-alembic's standard tests, run on the installed package's migrations and a real PostgreSQL.

The fixtures come from `orm_models.testing.alembic_fixtures`: `script_location` is
`orm_models:migrations` and the engine is on a fresh database per test. pytest-alembic puts that
Engine (not a Connection) in `config.attributes["connection"]`, which env.py accepts.
Its single-head test is not among them: the tree has two heads, one per branch
(`test_migrations.test_one_head_per_branch`).
"""

import pytest
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_up_down_consistency,
    test_upgrade,
)

__all__ = [
    "test_model_definitions_match_ddl",
    "test_up_down_consistency",
    "test_upgrade",
]

pytestmark = pytest.mark.release  # what `nox -s release` re-runs before publishing
