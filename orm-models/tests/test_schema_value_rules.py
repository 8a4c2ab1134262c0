"""A hand-written case per rule, on the fixture model set (tests/fixture_models.py)."""

import copy
from typing import Any

import pytest
from fixture_models import Status, fixture_manifest
from sqlalchemy import (
    CheckConstraint,
    Computed,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import mapped_column, relationship

from orm_models.schema import Bump, diff_manifests
from orm_models.schema.rules import RULES, explain


def _kinds(**parts: Any) -> dict[str, Bump]:
    return {c.kind: c.bump for c in diff_manifests(fixture_manifest(), fixture_manifest(**parts))}


def _indexes(**replace: Any) -> Any:
    indexes = {
        "ix_product_price_active": Index(
            "ix_product_price_active", "price", postgresql_where=text("status = 'ACTIVE'")
        ),
        "ix_product_lower_sku": Index(
            "ix_product_lower_sku", func.lower(text("sku")), postgresql_using="btree"
        ),
        "ix_product_code": Index("ix_product_code", "code", postgresql_include=["price"]),
    }
    indexes.update(replace)
    return lambda: tuple(index for index in indexes.values() if index is not None)


def _column(**kw: Any) -> dict[str, Any]:
    return {"product_extra": lambda: {"extra": mapped_column(**kw)}}


def _second_vendor_fk(ondelete: str | None) -> dict[str, Any]:
    """A new product column referencing vendor (the relationship keeps to the first one)."""
    return {
        "product_extra": lambda: {
            "maker_id": mapped_column(Integer, ForeignKey("vendor.id", ondelete=ondelete), nullable=True)
        },
        "vendor": lambda: relationship("Vendor", back_populates="products", foreign_keys="Product.vendor_id"),
        "products": lambda: relationship(
            "Product", back_populates="vendor", foreign_keys="Product.vendor_id"
        ),
    }


# (what changes, the parts that change it, expected kind, expected bump)
CASES: dict[str, tuple[dict[str, Any], str, Bump]] = {
    "server default value": (
        {"status": lambda: mapped_column(Enum(Status, name="status_kind"), server_default="RETIRED")},
        "change_server_default",
        Bump.MAJOR,
    ),
    "python default value": (
        {"notes": lambda: mapped_column(Text, nullable=True, default="-", comment="free text")},
        "python_default_changed",
        Bump.MAJOR,
    ),
    "python default removed": (
        {"notes": lambda: mapped_column(Text, nullable=True, comment="free text")},
        "python_default_removed",
        Bump.MAJOR,
    ),
    "python default added": (
        {"price": lambda: mapped_column(Numeric(10, 2), nullable=True, default=0)},
        "python_default_added",
        Bump.MINOR,
    ),
    "partial index WHERE (non-unique)": (
        {
            "product_indexes": _indexes(
                ix_product_price_active=Index(
                    "ix_product_price_active", "price", postgresql_where=text("status = 'RETIRED'")
                )
            )
        },
        "change_index",
        Bump.PATCH,
    ),
    "index INCLUDE": (
        {"product_indexes": _indexes(ix_product_code=Index("ix_product_code", "code"))},
        "change_index",
        Bump.PATCH,
    ),
    "unique index gains NULLS NOT DISTINCT": (
        {
            "product_indexes": _indexes(
                ix_product_code=Index(
                    "ix_product_code", "code", unique=True, postgresql_nulls_not_distinct=True
                )
            )
        },
        "add_unique",
        Bump.MAJOR,
    ),
    "index renamed (naming convention)": (
        {
            "product_indexes": _indexes(
                ix_product_code=None, ix_code=Index("ix_code", "code", postgresql_include=["price"])
            )
        },
        "rename_constraint",
        Bump.PATCH,
    ),
    "check constraint renamed": (
        {"product_constraints": lambda: (CheckConstraint("price >= 0", name="price_not_negative"),)},
        "rename_constraint",
        Bump.PATCH,
    ),
    "renamed constraint a client names": (
        {
            "product_constraints": lambda: (
                CheckConstraint(
                    "price >= 0", name="price_not_negative", info={"referenced_by_name": "billing"}
                ),
            )
        },
        "rename_constraint",
        Bump.PATCH,
    ),
    "enum value appended": (
        {
            "status": lambda: mapped_column(
                Enum("ACTIVE", "RETIRED", "PAUSED", name="status_kind"), server_default="ACTIVE"
            )
        },
        "enum_value_added",
        Bump.MAJOR,
    ),
    "enum value removed": (
        {"status": lambda: mapped_column(Enum("ACTIVE", name="status_kind"), server_default="ACTIVE")},
        "enum_values_changed",
        Bump.MAJOR,
    ),
    "identity becomes ALWAYS": (
        {"id": lambda: mapped_column(Integer, Identity(always=True), primary_key=True)},
        "change_identity",
        Bump.MAJOR,
    ),
    "identity START": (
        {"id": lambda: mapped_column(Integer, Identity(start=1000), primary_key=True)},
        "tune_identity",
        Bump.PATCH,
    ),
    "computed expression": (
        {"doubled": lambda: mapped_column(Integer, Computed("code * 3"), nullable=True)},
        "change_computed",
        Bump.MAJOR,
    ),
    "sequence increment": (
        {
            "code": lambda: mapped_column(
                Integer, Sequence("product_code_seq", start=100, increment=2), nullable=True
            )
        },
        "change_sequence",
        Bump.MAJOR,
    ),
    "relationship lazy='raise'": (
        {"vendor": lambda: relationship("Vendor", back_populates="products", lazy="raise")},
        "relationship_changed",
        Bump.MAJOR,
    ),
    "relationship lazy select -> selectin": (
        {"vendor": lambda: relationship("Vendor", back_populates="products", lazy="selectin")},
        "relationship_loading",
        Bump.PATCH,
    ),
    "back_populates removed": (
        {
            "vendor": lambda: relationship("Vendor"),
            "products": lambda: relationship("Product", viewonly=True),
        },
        "relationship_changed",
        Bump.MAJOR,
    ),
    "unique on a column added in the same release": (
        _column(type_=String(10), nullable=True, unique=True),
        "add_unique_on_new_column",
        Bump.MINOR,
    ),
    "check on a column added in the same release": (
        {
            "product_extra": lambda: {"extra": mapped_column(Integer, nullable=True)},
            "product_constraints": lambda: (
                CheckConstraint("price >= 0", name="price_positive"),
                CheckConstraint("extra > 0", name="extra_positive"),
            ),
        },
        "add_check_on_new_column",
        Bump.MINOR,
    ),
    "check on a new column that tests NULL": (
        {
            "product_extra": lambda: {"extra": mapped_column(Integer, nullable=True)},
            "product_constraints": lambda: (
                CheckConstraint("price >= 0", name="price_positive"),
                CheckConstraint("extra IS NOT NULL", name="extra_set"),
            ),
        },
        "add_check",
        Bump.MAJOR,
    ),
    "FK on a new column, ON DELETE NO ACTION: blocks old deletes of vendor": (
        _second_vendor_fk(None),
        "add_foreign_key_restricts_referenced",
        Bump.MAJOR,
    ),
    "FK on a new column, ON DELETE SET NULL": (
        _second_vendor_fk("SET NULL"),
        "add_foreign_key_on_new_column",
        Bump.MINOR,
    ),
    "unique constraint of two old columns": (
        {
            "product_constraints": lambda: (
                CheckConstraint("price >= 0", name="price_positive"),
                UniqueConstraint("sku", "code", name="sku_code"),
            )
        },
        "add_unique",
        Bump.MAJOR,
    ),
}


def _price(**kw: Any) -> dict[str, Any]:
    return {"price": lambda: mapped_column(Numeric(10, 2), nullable=True, **kw)}


def _note_model(base: Any) -> None:
    type(
        "Note",
        (base,),
        {"__module__": "fixture", "__tablename__": "note", "id": mapped_column(Integer, primary_key=True)},
    )


_FK_SET_NULL = "FK on a new column, ON DELETE SET NULL"
_BACK_POPULATES = "back_populates removed"
CASES |= {
    "table renamed under the same class": ({"product_table": lambda: "item"}, "rename_table", Bump.MAJOR),
    "table made UNLOGGED": (
        {"product_table_kwargs": lambda: {"prefixes": ["UNLOGGED"]}},
        "change_table_options",
        Bump.MAJOR,
    ),
    "collation": (
        {"sku": lambda: mapped_column(String(32, collation="C"), unique=True)},
        "change_collation",
        Bump.MAJOR,
    ),
    "enum stored as VARCHAR": (
        {
            "status": lambda: mapped_column(
                Enum(Status, name="status_kind", native_enum=False), server_default="ACTIVE"
            )
        },
        "enum_storage_changed",
        Bump.MAJOR,
    ),
    "enum validates strings": (
        {
            "status": lambda: mapped_column(
                Enum(Status, name="status_kind", validate_strings=True), server_default="ACTIVE"
            )
        },
        "enum_python_changed",
        Bump.MAJOR,
    ),
    "server default added": (_price(server_default="0"), "add_server_default", Bump.MINOR),
    "server default of a nullable column dropped": (
        {"status": lambda: mapped_column(Enum(Status, name="status_kind"))},
        "drop_server_default_nullable",
        Bump.MINOR,
    ),
    "identity added": ({"code": lambda: mapped_column(Integer, Identity())}, "add_identity", Bump.MINOR),
    "identity dropped": (
        {"id": lambda: mapped_column(Integer, primary_key=True)},
        "drop_identity",
        Bump.MAJOR,
    ),
    "generated column": (
        {"price": lambda: mapped_column(Numeric(10, 2), Computed("code * 1.5"), nullable=True)},
        "add_computed",
        Bump.MAJOR,
    ),
    "no longer generated": (
        {"doubled": lambda: mapped_column(Integer, nullable=True)},
        "drop_computed",
        Bump.MAJOR,
    ),
    "primary key gains a column": (
        {"sku": lambda: mapped_column(String(32), unique=True, primary_key=True)},
        "change_primary_key",
        Bump.MAJOR,
    ),
    "column dialect option": (
        _price(sqlite_on_conflict_not_null="FAIL"),
        "change_column_options",
        Bump.MAJOR,
    ),
    "comment": (
        {"notes": lambda: mapped_column(Text, nullable=True, default="", comment="notes")},
        "change_comment",
        Bump.PATCH,
    ),
    "sequence START": (
        {"code": lambda: mapped_column(Integer, Sequence("product_code_seq", start=200), nullable=True)},
        "tune_sequence",
        Bump.PATCH,
    ),
    "sequence replaced": (
        {"code": lambda: mapped_column(Integer, Sequence("code_seq", start=100), nullable=True)},
        "drop_sequence",
        Bump.MAJOR,
    ),
    "sequence added": (
        {"code": lambda: mapped_column(Integer, Sequence("code_seq", start=100), nullable=True)},
        "add_sequence",
        Bump.MINOR,
    ),
    "unique dropped": ({"sku": lambda: mapped_column(String(32))}, "drop_unique", Bump.MAJOR),
    "check dropped": ({"product_constraints": tuple}, "drop_check", Bump.MINOR),
    "foreign key dropped (the reverse of adding one)": (
        CASES[_FK_SET_NULL][0],
        "drop_foreign_key",
        Bump.MINOR,
    ),
    "class added": ({"more_models": _note_model}, "class_added", Bump.MINOR),
    "class removed (reverse)": ({"more_models": _note_model}, "class_removed", Bump.MAJOR),
    "attribute added": (_column(type_=Integer, nullable=True), "attribute_added", Bump.MINOR),
    "attribute deferred": (_price(deferred=True), "attribute_loading_changed", Bump.MAJOR),
    "attribute active_history": (_price(active_history=True), "attribute_tuning_changed", Bump.PATCH),
    "relationship added": (
        {"vendor_extra": lambda: {"cheap": relationship("Product", viewonly=True)}},
        "relationship_added",
        Bump.MINOR,
    ),
    "relationship removed (reverse)": (
        {"vendor_extra": lambda: {"cheap": relationship("Product", viewonly=True)}},
        "relationship_removed",
        Bump.MAJOR,
    ),
    "back_populates added (reverse)": (CASES[_BACK_POPULATES][0], "relationship_extended", Bump.MINOR),
    "mapper eager_defaults": (
        {"product_extra": lambda: {"__mapper_args__": {"eager_defaults": True}}},
        "mapper_changed",
        Bump.MAJOR,
    ),
}
# These compare the changed models back to the fixture: the reverse of what their parts do.
REVERSED = {
    "sequence added",
    "foreign key dropped (the reverse of adding one)",
    "class removed (reverse)",
    "relationship removed (reverse)",
    "back_populates added (reverse)",
}
# Rules whose hand-written case lives in another module (by test function).
# Equivalences: another spelling, no change for anyone (docs/schema-versioning.md, "Equivalences").
CASES |= {
    "TEXT respelled as VARCHAR without a length": (
        {"notes": lambda: mapped_column(String, nullable=True, default="", comment="free text")},
        "equivalent_type",
        Bump.NONE,
    ),
    "server default in parentheses": (
        {
            "status": lambda: mapped_column(
                Enum(Status, name="status_kind"), server_default=text("('ACTIVE')")
            )
        },
        "equivalent_server_default",
        Bump.NONE,
    ),
}


ELSEWHERE = {
    "add_trigger": "test_schema_triggers.test_an_added_trigger_on_an_old_table_is_major_and_a_person_decides",
    "add_trigger_new_table": "test_schema_triggers.test_a_trigger_on_a_new_table_reaches_no_old_writer",
    "add_rename_sync_trigger": (
        "test_schema_triggers.test_a_renames_sync_trigger_is_minor_and_any_other_name_stays_major"
    ),
    "change_trigger": "test_schema_triggers.test_a_changed_definition_or_function_body_and_a_drop_are_major",
    "drop_trigger": "test_schema_triggers.test_a_changed_definition_or_function_body_and_a_drop_are_major",
    "add_table": "test_schema_rules.test_add_table_is_minor",
    "drop_table": "test_schema_rules.test_drop_table_is_major_data_loss",
    "add_column_nullable": "test_schema_rules.test_column_rule",
    "add_column_server_default": "test_schema_rules.test_column_rule",
    "add_column_not_null": "test_schema_rules.test_column_rule",
    "drop_column": "test_schema_rules.test_column_rule",
    "rename_column": "test_schema_rules.test_rename_column_through_the_mapped_attribute",
    "widen_type": "test_schema_rules.test_column_rule",
    "narrow_type": "test_schema_rules.test_column_rule",
    "change_type": "test_schema_rules.test_column_rule",
    "set_not_null": "test_schema_rules.test_column_rule",
    "drop_not_null": "test_schema_rules.test_column_rule",
    "drop_server_default": "test_schema_rules.test_column_rule",
    "add_foreign_key": "test_schema_rules.test_add_foreign_key",
    "change_constraint": "test_schema_rules.test_changing_the_columns_of_a_unique_index_is_major",
    "add_index": "test_schema_rules.test_column_rule",
    "drop_index": "test_schema_rules.test_column_rule",
    "attribute_removed": "test_schema_cli.test_breaking_change_with_minor_bump_exits_1_naming_the_columns",
    "attribute_renamed": (
        "test_schema_rules.test_rename_mapped_attribute_only_breaks_callers_not_the_database"
    ),
    "attribute_remapped": "test_schema_rules.test_rename_column_through_the_mapped_attribute",
    "revision_added": "test_schema_history.test_a_new_revision_alone_needs_a_patch_release",
    "rename_referenced": "test_schema_value_rules.test_a_constraint_some_client_names_is_major_to_rename",
    "api_added": "test_schema_api_values.test_api_by_value",
    "api_removed": "test_schema_api_values.test_api_by_value",
    "api_changed": "test_schema_api_values.test_api_by_value",
    "api_extended": "test_schema_api_values.test_api_by_value",
}


@pytest.mark.parametrize("name", CASES)
def test_hand_written_case(name: str) -> None:
    parts, kind, bump = CASES[name]
    if name in REVERSED:
        kinds = {c.kind: c.bump for c in diff_manifests(fixture_manifest(**parts), fixture_manifest())}
    else:
        kinds = _kinds(**parts)
    assert kinds.get(kind) == bump, kinds
    assert max(kinds.values()) >= bump


def test_a_new_table_whose_fk_restricts_an_existing_table_is_major() -> None:
    old = fixture_manifest()
    new = copy.deepcopy(old)
    review = copy.deepcopy(old["tables"]["vendor"])
    review["foreign_keys"] = {
        "fk_review_product_id_product": {
            **next(iter(old["tables"]["product"]["foreign_keys"].values())),
            "columns": ["product_id"],
            "referred_table": "product",
            "ondelete": None,
        }
    }
    review["columns"]["product_id"] = {**old["tables"]["product"]["columns"]["price"], "type": "INTEGER"}
    new["tables"]["review"] = review
    kinds = {c.kind: c.bump for c in diff_manifests(old, new)}
    assert kinds == {"add_table": Bump.MINOR, "add_foreign_key_restricts_referenced": Bump.MAJOR}


def test_a_constraint_some_client_names_is_major_to_rename() -> None:
    old = fixture_manifest(
        product_constraints=lambda: (
            CheckConstraint("price >= 0", name="p", info={"referenced_by_name": "billing"}),
        )
    )
    new = fixture_manifest(
        product_constraints=lambda: (
            CheckConstraint("price >= 0", name="q", info={"referenced_by_name": "billing"}),
        )
    )
    [change] = [c for c in diff_manifests(old, new) if c.table]
    assert (change.kind, change.bump) == ("rename_referenced", Bump.MAJOR)
    assert "billing names it" in change.detail


def test_every_rule_explains_itself() -> None:
    for kind, rule in RULES.items():
        assert rule.why, kind
        assert explain(kind).startswith(f"{kind}: {rule.bump}")
    with pytest.raises(ValueError, match="no rule"):
        explain("nope")


def test_a_default_factory_whose_body_changed_is_seen_and_a_comment_is_not(tmp_path: Any) -> None:
    import importlib.util

    def manifest_with(source: str) -> Any:
        # Same module name, a file of its own: the source is read back when the manifest is built.
        path = tmp_path / str(len(list(tmp_path.iterdir()))) / "fixture_defaults.py"
        path.parent.mkdir()
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("fixture_defaults", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return fixture_manifest(
            price=lambda: mapped_column(Numeric(10, 2), nullable=True, default=module.price)
        )

    old = manifest_with("def price():\n    return 1\n")
    commented = manifest_with("def price():\n    # the list price\n    return 1\n")
    changed = manifest_with("def price():\n    return 2\n")
    assert diff_manifests(old, commented) == []
    [change] = diff_manifests(old, changed)
    assert (change.kind, change.bump) == ("python_default_changed", Bump.MAJOR)
    assert "callable fixture_defaults.price" in change.detail
