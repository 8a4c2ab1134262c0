pytest_plugins = ["orm_models.testing.fixtures"]
