"""pytest-alembic's fixtures for the migrations shipped in this package.

Enable next to the database fixtures and import pytest-alembic's standard tests (single head,
upgrade, up/down consistency, models match the migrated DDL) into a test module::

    # conftest.py
    pytest_plugins = ["orm_models.testing.fixtures", "orm_models.testing.alembic_fixtures"]

    # test_migrations.py
    from pytest_alembic.tests import (
        test_model_definitions_match_ddl,
        test_single_head_revision,
        test_up_down_consistency,
        test_upgrade,
    )

Each test gets an empty database of its own on the session's server (`create_database`).
Install `pytest-alembic` yourself (it is not in `orm-models[testing]`) and, under pytest 9.2,
turn its own collector off, which otherwise fails on `tests/conftest.py`::

    [tool.pytest.ini_options]
    pytest_alembic_enabled = ""  # any non-empty string reads as true
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from orm_models.migrate import SCRIPT_LOCATION


@pytest.fixture
def alembic_config() -> dict[str, Any]:
    """The installed package's migrations, whatever directory the tests run from."""
    return {"script_location": SCRIPT_LOCATION}


@pytest.fixture
def alembic_engine(create_database: Callable[[], str]) -> Iterator[Engine]:
    """An engine on a fresh, empty database (pytest-alembic's default is SQLite)."""
    engine = create_engine(create_database())
    yield engine
    engine.dispose()
