"""A richer model set than Person/Organization, for the schema rules to bite on.

Enum, numeric, text, identity, computed, sequence, partial/expression/covering indexes, unique,
CHECK and foreign key constraints, a relationship. `fixture_manifest(**changes)` builds it on a
fresh declarative base with some definitions replaced, so a test states only what it changes.
"""

import enum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column, relationship

from orm_models.base import NAMING_CONVENTION
from orm_models.schema import Manifest, build_manifest


class Status(enum.Enum):
    """Stored by name in a native PostgreSQL enum."""

    ACTIVE = "active"
    RETIRED = "retired"


def _parts(**changes: Any) -> dict[str, Any]:
    """Every replaceable definition, with `changes` applied."""
    parts: dict[str, Any] = {
        "status": lambda: mapped_column(Enum(Status, name="status_kind"), server_default="ACTIVE"),
        "price": lambda: mapped_column(Numeric(10, 2), nullable=True),
        "notes": lambda: mapped_column(Text, nullable=True, default="", comment="free text"),
        "sku": lambda: mapped_column(String(32), unique=True),
        "code": lambda: mapped_column(Integer, Sequence("product_code_seq", start=100), nullable=True),
        "doubled": lambda: mapped_column(Integer, Computed("code * 2"), nullable=True),
        "id": lambda: mapped_column(Integer, Identity(), primary_key=True),
        "vendor_id": lambda: mapped_column(
            Integer, ForeignKey("vendor.id", ondelete="CASCADE"), nullable=True
        ),
        "vendor": lambda: relationship("Vendor", back_populates="products", lazy="select"),
        "products": lambda: relationship("Product", back_populates="vendor"),
        "product_indexes": lambda: (
            Index("ix_product_price_active", "price", postgresql_where=text("status = 'ACTIVE'")),
            Index("ix_product_lower_sku", func.lower(text("sku")), postgresql_using="btree"),
            Index("ix_product_code", "code", postgresql_include=["price"]),
        ),
        "product_constraints": lambda: (CheckConstraint("price >= 0", name="price_positive"),),
        "product_extra": dict,
        "vendor_extra": dict,
        "product_table": lambda: "product",
        "product_table_kwargs": dict,
        "more_models": lambda base: None,
    }
    parts.update(changes)
    return parts


def fixture_manifest(**changes: Any) -> Manifest:
    """The manifest of the fixture models with some parts replaced (see `_parts`)."""
    parts = _parts(**changes)

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    product: dict[str, Any] = {
        "__module__": "fixture",
        "__tablename__": parts["product_table"](),
        "__table_args__": (
            *parts["product_indexes"](),
            *parts["product_constraints"](),
            parts["product_table_kwargs"](),
        ),
        **{name: parts[name]() for name in ("id", "status", "price", "notes", "sku", "code", "doubled")},
        "vendor_id": parts["vendor_id"](),
        "vendor": parts["vendor"](),
        **parts["product_extra"](),
    }
    vendor: dict[str, Any] = {
        "__module__": "fixture",
        "__tablename__": "vendor",
        "id": mapped_column(Integer, Identity(), primary_key=True),
        "name": mapped_column(String(100)),
        "products": parts["products"](),
        **parts["vendor_extra"](),
    }
    type("Vendor", (Base,), vendor)
    type("Product", (Base,), product)
    parts["more_models"](Base)
    return build_manifest(Base.metadata, Base.registry.mappers, version="1.0.0", migrations=["0001"])
