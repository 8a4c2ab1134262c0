pytest_plugins = ["orm_models.testing.fixtures", "orm_models.testing.alembic_fixtures"]
