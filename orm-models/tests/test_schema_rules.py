"""One test per classification rule: crafted before/after models, expected category and bump."""

from pathlib import Path
from typing import Any

import pytest
from schema_helpers import manifest, only
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import mapped_column

from orm_models.schema import Bump, Impact, api_snapshot, diff_api, diff_manifests

R, W, L, D, C = Impact.READERS, Impact.WRITERS, Impact.LOCKS, Impact.DATA_LOSS, Impact.CALLERS


def _name(**kw: Any) -> dict[str, Any]:
    return {"name": mapped_column(String(50), **kw)}


def _with(**columns: Any) -> dict[str, Any]:
    return {**_name(), **columns}


# (old columns, new columns, expected kind, bump, impacts)
CASES = {
    "add_nullable_column": (
        _name(),
        _with(nick=mapped_column(String(20), nullable=True)),
        "add_column_nullable",
        Bump.MINOR,
        set(),
    ),
    "add_column_with_server_default": (
        _name(),
        _with(score=mapped_column(Integer, nullable=False, server_default=text("0"))),
        "add_column_server_default",
        Bump.MINOR,
        set(),
    ),
    "add_not_null_column_without_server_default": (
        _name(),
        _with(score=mapped_column(Integer, nullable=False)),
        "add_column_not_null",
        Bump.MAJOR,
        {W},
    ),
    "python_side_default_only_still_breaks_writers": (
        _name(),
        _with(score=mapped_column(Integer, nullable=False, default=0)),
        "add_column_not_null",
        Bump.MAJOR,
        {W},
    ),
    "drop_column": (
        _with(nick=mapped_column(String(20))),
        _name(),
        "drop_column",
        Bump.MAJOR,
        frozenset({R, W, D}),
    ),
    "widen_string_length": (_name(), {"name": mapped_column(String(100))}, "widen_type", Bump.MINOR, set()),
    "narrow_string_length": (
        _name(),
        {"name": mapped_column(String(20))},
        "narrow_type",
        Bump.MAJOR,
        {R, W, L, D},
    ),
    "string_to_text_widens": (_name(), {"name": mapped_column(Text)}, "widen_type", Bump.MINOR, set()),
    "integer_to_biginteger": (
        {"n": mapped_column(Integer)},
        {"n": mapped_column(BigInteger)},
        "widen_type",
        Bump.MINOR,
        {L},
    ),
    "type_change": (
        {"n": mapped_column(Integer)},
        {"n": mapped_column(String(20))},
        "change_type",
        Bump.MAJOR,
        {R, W, L, D},
    ),
    "nullable_to_not_null": (
        _name(nullable=True),
        _name(nullable=False),
        "set_not_null",
        Bump.MAJOR,
        frozenset({W, L}),
    ),
    "not_null_to_nullable": (_name(nullable=False), _name(nullable=True), "drop_not_null", Bump.MAJOR, {R}),
    "add_unique": (_name(), _name(unique=True), "add_unique", Bump.MAJOR, frozenset({W, L})),
    "add_plain_index": (_name(), _name(index=True), "add_index", Bump.PATCH, set()),
    "drop_plain_index": (_name(index=True), _name(), "drop_index", Bump.PATCH, set()),
    "drop_server_default_of_not_null": (
        _name(nullable=False, server_default="x"),
        _name(nullable=False),
        "drop_server_default",
        Bump.MAJOR,
        {W},
    ),
}


@pytest.mark.parametrize(("old", "new", "kind", "bump", "impacts"), CASES.values(), ids=CASES.keys())
def test_column_rule(
    old: dict[str, Any], new: dict[str, Any], kind: str, bump: Bump, impacts: set[Impact]
) -> None:
    change = only(diff_manifests(manifest(old), manifest(new)), kind)
    assert change.bump is bump
    assert change.impacts == impacts
    assert change.table == "person"


def test_add_table_is_minor() -> None:
    changes = diff_manifests(manifest(), manifest(extra={"pet": {"name": mapped_column(String(20))}}))
    assert only(changes, "add_table").bump is Bump.MINOR
    assert only(changes, "class_added").bump is Bump.MINOR
    assert max(change.bump for change in changes) is Bump.MINOR, changes


def test_drop_table_is_major_data_loss() -> None:
    changes = diff_manifests(manifest(extra={"pet": {"name": mapped_column(String(20))}}), manifest())
    change = only(changes, "drop_table")
    assert (change.bump, change.impacts, change.subject) == (Bump.MAJOR, frozenset({R, W, D}), "pet")


def test_rename_column_through_the_mapped_attribute() -> None:
    old = manifest({"surname": mapped_column(String(50))})
    new = manifest({"surname": mapped_column("family_name", String(50))})
    changes = diff_manifests(old, new)
    change = only(changes, "rename_column")
    assert (change.subject, change.bump, change.impacts) == (
        "person.family_name",
        Bump.MAJOR,
        frozenset({R, W}),
    )
    assert not [c for c in changes if c.kind in {"drop_column", "add_column_nullable", "attribute_remapped"}]


def test_rename_column_and_attribute_is_recognised_by_definition() -> None:
    changes = diff_manifests(
        manifest({"surname": mapped_column(String(50))}), manifest({"family_name": mapped_column(String(50))})
    )
    assert only(changes, "rename_column").detail == "renamed from person.surname"
    assert not [c for c in changes if c.kind == "drop_column"]


def test_rename_mapped_attribute_only_breaks_callers_not_the_database() -> None:
    old = manifest({"surname": mapped_column(String(50))})
    new = manifest({"family_name": mapped_column("surname", String(50))})
    changes = diff_manifests(old, new)
    change = only(changes, "attribute_renamed")
    assert (change.bump, change.impacts, change.table) == (Bump.MAJOR, frozenset({C}), None)
    assert [c.kind for c in changes] == ["attribute_renamed"]


def test_add_foreign_key() -> None:
    org: dict[str, dict[str, Any]] = {"organization": {}}
    old = manifest({"org_id": mapped_column(Integer)}, extra=org)
    new = manifest({"org_id": mapped_column(ForeignKey("organization.id"))}, extra=org)
    change = only(diff_manifests(old, new), "add_foreign_key")
    assert (change.bump, change.impacts, change.column) == (Bump.MAJOR, frozenset({W, L}), "org_id")
    assert "NOT VALID" in change.route


def test_add_unique_index_counts_as_unique_constraint() -> None:
    old = manifest(_name())
    new = manifest(_name(), table_args=(Index("ix_person_name", "name", unique=True),))
    assert only(diff_manifests(old, new), "add_unique").bump is Bump.MAJOR


def test_changing_the_columns_of_a_unique_index_is_major() -> None:
    old = manifest(
        _with(nick=mapped_column(String(20))), table_args=(Index("uq_pair", "name", "nick", unique=True),)
    )
    new = manifest(_with(nick=mapped_column(String(20))), table_args=(Index("uq_pair", "name", unique=True),))
    assert only(diff_manifests(old, new), "change_constraint").bump is Bump.MAJOR


def test_changing_the_columns_of_a_plain_index_is_patch() -> None:
    old = manifest(_with(nick=mapped_column(String(20))), table_args=(Index("ix_pair", "name", "nick"),))
    new = manifest(_with(nick=mapped_column(String(20))), table_args=(Index("ix_pair", "name"),))
    assert only(diff_manifests(old, new), "change_index").bump is Bump.PATCH


def test_add_multi_column_unique_constraint() -> None:
    old = manifest(_with(nick=mapped_column(String(20))))
    new = manifest(_with(nick=mapped_column(String(20))), table_args=(UniqueConstraint("name", "nick"),))
    assert only(diff_manifests(old, new), "add_unique").impacts == {W, L}


def test_no_change_needs_no_bump() -> None:
    assert diff_manifests(manifest(_name()), manifest(_name())) == []


def _package(root: Path, body: str) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text(body)
    return root


def test_remove_public_class_is_major(tmp_path: Path) -> None:
    old = api_snapshot("pkg", [_package(tmp_path / "old", "class Kept: ...\nclass Gone:\n    x: int = 1\n")])
    new = api_snapshot("pkg", [_package(tmp_path / "new", "class Kept: ...\n")])
    changes = diff_api(old, new)
    change = only(changes, "api_removed")
    assert (change.subject, change.bump, change.impacts) == ("pkg.Gone", Bump.MAJOR, frozenset({C}))
    assert len(changes) == 1, "members of a removed class are not reported again"


def test_api_signature_rules(tmp_path: Path) -> None:
    old = api_snapshot("pkg", [_package(tmp_path / "old", "def f(a, b=1): ...\ndef g(a): ...\n")])
    new = api_snapshot("pkg", [_package(tmp_path / "new", "def f(a, b=1, c=2): ...\ndef g(a, b): ...\n")])
    changes = diff_api(old, new)
    assert only(changes, "api_extended").bump is Bump.MINOR
    assert only(changes, "api_changed").subject == "pkg.g"
