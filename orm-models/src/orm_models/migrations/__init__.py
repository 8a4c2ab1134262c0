"""Alembic environment and revisions, shipped inside the wheel (`orm_models:migrations`)."""
