"""Facts of the mapped classes: attribute -> column, loading options, relationships, mapper options.

These are the ORM side of the tables: what code written against a release calls and gets back.
"""

from typing import Any

from sqlalchemy import Column
from sqlalchemy.orm import Mapper, RelationshipProperty

from .tables import sql

# Loading strategies that return the same objects and differ only in when SQL runs.
EAGER_OR_LAZY = frozenset({"select", "joined", "selectin", "subquery", "immediate", True, False})


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _text(value: Any) -> Any:
    if value is None or value is False:
        return None
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return sql(value)


def _relationship(prop: RelationshipProperty[Any]) -> dict[str, Any]:
    collection = prop.collection_class
    return {
        "target": _class_path(prop.mapper.class_),
        "direction": prop.direction.name,
        "uselist": bool(prop.uselist),
        "lazy": prop.lazy,
        "back_populates": prop.back_populates,
        "backref": None if prop.backref is None else str(prop.backref),
        "cascade": sorted(str(c) for c in prop.cascade),
        "viewonly": bool(prop.viewonly),
        "passive_deletes": prop.passive_deletes,
        "passive_updates": bool(prop.passive_updates),
        "order_by": _text(prop.order_by),
        "secondary": None if prop.secondary is None else str(prop.secondary),
        "primaryjoin": sql(prop.primaryjoin),
        "secondaryjoin": None if prop.secondaryjoin is None else sql(prop.secondaryjoin),
        "collection_class": None
        if collection is None
        else getattr(collection, "__qualname__", repr(collection)),
        "innerjoin": prop.innerjoin,
        "single_parent": bool(prop.single_parent),
        "post_update": bool(prop.post_update),
        "cascade_backrefs": bool(getattr(prop, "cascade_backrefs", False)),
    }


def _column_options(prop: Any) -> dict[str, Any]:
    return {
        "deferred": bool(prop.deferred),
        "raiseload": bool(getattr(prop, "raiseload", False)),
        "active_history": bool(prop.active_history),
        "expire_on_flush": bool(prop.expire_on_flush),
    }


def mapped_class_facts(mapper: Mapper[Any]) -> dict[str, Any]:
    """What one mapped class exposes: its table, attributes, their options and relationships."""
    table = mapper.persist_selectable
    props = [
        prop
        for prop in mapper.column_attrs
        if isinstance(prop.columns[0], Column) and prop.columns[0].table is table
    ]
    version_id = mapper.version_id_col
    return {
        "table": getattr(table, "fullname", str(table)),
        "attributes": {prop.key: str(prop.columns[0].name) for prop in props},
        "attribute_options": {prop.key: _column_options(prop) for prop in props},
        "relationships": {prop.key: _relationship(prop) for prop in mapper.relationships},
        "mapper": {
            "inherits": None if mapper.inherits is None else _class_path(mapper.inherits.class_),
            "polymorphic_on": None if mapper.polymorphic_on is None else sql(mapper.polymorphic_on),
            "polymorphic_identity": _text(mapper.polymorphic_identity),
            "version_id_col": None if version_id is None else str(version_id.name),
            "eager_defaults": str(mapper.eager_defaults),
            "confirm_deleted_rows": bool(mapper.confirm_deleted_rows),
        },
    }


def classes_facts(mappers: Any) -> dict[str, Any]:
    """Every mapped class by its import path."""
    return {_class_path(mapper.class_): mapped_class_facts(mapper) for mapper in mappers}
