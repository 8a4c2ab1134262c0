"""Typed SQLAlchemy models and migrations shared by every service on the database."""

# The names below are imported on first use (PEP 562), not with the package: `orm-models
# --version`/`--help` (orm_models.cli) and `orm_models.__about__` then answer without loading
# SQLAlchemy and Alembic. `from orm_models import Person` works as before; type checkers and
# griffe read the imports in the TYPE_CHECKING block.
import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from orm_models.__about__ import __version__

if TYPE_CHECKING:
    from orm_models.base import Base
    from orm_models.contract_gate import ContractBlockedError
    from orm_models.guard import SchemaGuardError, check_schema
    from orm_models.migrate import alembic_config, current_revision, head_revision, migrate
    from orm_models.people import Organization, Person
    from orm_models.registry import RegistrationError, register_client

_LAZY = {
    "Base": "orm_models.base",
    "ContractBlockedError": "orm_models.contract_gate",
    "SchemaGuardError": "orm_models.guard",
    "check_schema": "orm_models.guard",
    "alembic_config": "orm_models.migrate",
    "current_revision": "orm_models.migrate",
    "head_revision": "orm_models.migrate",
    "migrate": "orm_models.migrate",
    "Organization": "orm_models.people",
    "Person": "orm_models.people",
    "RegistrationError": "orm_models.registry",
    "register_client": "orm_models.registry",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orm_models' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        # Importing the submodule orm_models.migrate sets the package's `migrate` to that module;
        # `orm_models.migrate` is the function, as it was when imported eagerly: keep it so.
        if name == "migrate" and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
