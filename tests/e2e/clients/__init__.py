"""Small client programs the e2e scenarios run inside venvs that got orm-models from the index."""
