"""Typed SQLAlchemy models and migrations shared by every service on the database."""

# The names below come from modules built on SQLAlchemy and Alembic. They are loaded on first
# use (PEP 562), not with the package, so that `orm-models --version`/`--help` and
# `orm_models.__about__` answer without that stack. The first use loads all of them, in the order
# the eager imports had, so `orm_models.Base.metadata` holds every model's table as before. Type
# checkers and griffe (the API check) read the imports in the TYPE_CHECKING block.
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

_EXPORTS_BY_MODULE = {
    "orm_models.base": ("Base",),
    "orm_models.contract_gate": ("ContractBlockedError",),
    "orm_models.guard": ("SchemaGuardError", "check_schema"),
    "orm_models.migrate": ("alembic_config", "current_revision", "head_revision", "migrate"),
    "orm_models.people": ("Organization", "Person"),
    "orm_models.registry": ("RegistrationError", "register_client"),
}
_LAZY_NAMES = frozenset(name for names in _EXPORTS_BY_MODULE.values() for name in names)

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
    if name not in _LAZY_NAMES:
        # Also how `from orm_models import people` falls through to importing the submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _load_exports()
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _load_exports() -> None:
    namespace = globals()  # written directly: later lookups do not come back to __getattr__
    for module_name, names in _EXPORTS_BY_MODULE.items():
        module = import_module(module_name)
        for name in names:
            namespace[name] = getattr(module, name)


class _Package(ModuleType):
    """The package module, keeping an exported name when a submodule of that name is imported."""

    def __setattr__(self, name: str, value: object) -> None:
        # Importing the submodule orm_models.migrate sets the package's `migrate` to it; the
        # package's `migrate` is the function, as it was when the names were imported eagerly.
        if name in _LAZY_NAMES and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
