"""Typed SQLAlchemy models and migrations shared by every service on the database."""

from orm_models.__about__ import __version__
from orm_models.base import Base
from orm_models.contract_gate import ContractBlockedError
from orm_models.guard import SchemaGuardError, check_schema
from orm_models.migrate import alembic_config, current_revision, head_revision, migrate
from orm_models.people import Organization, Person
from orm_models.registry import RegistrationError, register_client

__all__ = [
    "Base",
    "ContractBlockedError",
    "Organization",
    "Person",
    "RegistrationError",
    "SchemaGuardError",
    "__version__",
    "alembic_config",
    "check_schema",
    "current_revision",
    "head_revision",
    "migrate",
    "register_client",
]
