"""Typed SQLAlchemy models and migrations shared by every service on the database."""

from orm_models.__about__ import __version__
from orm_models.base import Base
from orm_models.migrate import alembic_config, current_revision, head_revision, migrate
from orm_models.people import Organization, Person

__all__ = [
    "Base",
    "Organization",
    "Person",
    "__version__",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migrate",
]
