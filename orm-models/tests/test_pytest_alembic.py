"""pytest-alembic's standard tests, run on the installed package's migrations and a real PostgreSQL.

The fixtures come from `orm_models.testing.alembic_fixtures`: `script_location` is
`orm_models:migrations` and the engine is on a fresh database per test. pytest-alembic puts that
Engine (not a Connection) in `config.attributes["connection"]`, which env.py accepts.
"""

from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]
