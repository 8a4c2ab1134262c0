"""Test helpers for this library and its consumers (install `orm-models[testing]`)."""
