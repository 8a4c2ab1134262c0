"""No blind spots: every recorded fact moves the verdict, and every rule has a hand-written case."""

import copy
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from fixture_models import fixture_manifest
from test_schema_value_rules import CASES, ELSEWHERE

from orm_models.schema import Bump, diff_manifests
from orm_models.schema.rules import RULES

# Top-level keys that describe the manifest, not the schema (the version is what is judged).
_META = {"format", "version", "migration_head"}


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every leaf of a manifest; an empty dict or list is a leaf too (it can gain an item)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            if not path and key in _META:
                continue
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node and not all(isinstance(v, str) for v in node):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path


_DEFERRAL = {"deferrable": False, "initially": "IMMEDIATE", "referenced_by_name": None}
# What an absent fact (None) or an empty collection becomes: a well-formed one.
_TEMPLATES: dict[str, Any] = {
    "computed": {"sqltext": "1", "persisted": None},
    "enum": {
        "values": ["a"],
        "native": True,
        "check_constraint": False,
        "python_class": None,
        "validate_strings": False,
    },
    "identity": {
        "always": False,
        "start": None,
        "increment": None,
        "minvalue": None,
        "maxvalue": None,
        "cache": None,
        "cycle": False,
    },
    "check_constraints": {"ck_new": {"sqltext": "id > 0", **_DEFERRAL}},
    "unique_constraints": {"uq_new": {"columns": ["id"], "options": {}, **_DEFERRAL}},
    "exclude_constraints": {"ex_new": {"definition": "USING gist (id WITH =)", **_DEFERRAL}},
    "indexes": {
        "ix_new": {
            "columns": ["id"],
            "unique": False,
            "options": {},
            "comment": None,
            "referenced_by_name": None,
        }
    },
    "foreign_keys": {
        "fk_new": {
            "columns": ["id"],
            "referred_table": "product",
            "referred_columns": ["id"],
            "ondelete": None,
            "onupdate": None,
            "match": None,
            "options": {},
            **_DEFERRAL,
        }
    },
}


def _mutated(value: Any, key: Any = None) -> Any:
    if key in _TEMPLATES and not value:
        return copy.deepcopy(_TEMPLATES[key])
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "_mutated"
    if isinstance(value, list):
        return [*value, "mutated"]
    if isinstance(value, dict):
        return {**value, "mutated": "1"}
    return "mutated"  # None


def _mutate(manifest: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    copied = copy.deepcopy(manifest)
    node = copied
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _mutated(node[path[-1]], path[-1])
    return copied


BASE = fixture_manifest()
BASE["api"] = {
    "pkg": {"kind": "module", "exports": {"run": "pkg.jobs.run"}},
    "pkg.jobs.run": {
        "kind": "function",
        "labels": ["async"],
        "parameters": [
            {
                "name": "n",
                "kind": "positional or keyword",
                "required": False,
                "default": "1",
                "annotation": "int",
            }
        ],
        "returns": "int",
    },
    "pkg.Color": {"kind": "class", "bases": ["Enum"]},
    "pkg.Color.RED": {"kind": "attribute", "annotation": None, "value": "'red'"},
}
PATHS = sorted(_leaves(BASE), key=str)


def test_the_mutation_set_covers_every_section() -> None:
    sections = {path[0] for path in PATHS}
    assert sections == {"tables", "sequences", "classes", "api", "migrations"}
    assert len(PATHS) > 200


@pytest.mark.parametrize("path", PATHS, ids=lambda path: ".".join(map(str, path)))
def test_every_manifest_field_moves_the_verdict(path: tuple[Any, ...]) -> None:
    changes = diff_manifests(BASE, _mutate(BASE, path))
    assert max((c.bump for c in changes), default=Bump.NONE) > Bump.NONE, f"blind spot: {path}"


def test_every_rule_has_a_hand_written_case() -> None:
    covered = {kind for _, kind, _ in CASES.values()} | ELSEWHERE.keys()
    assert set(RULES) == covered, set(RULES) ^ covered
    for where in ELSEWHERE.values():
        module, function = where.split(".")
        assert callable(getattr(importlib.import_module(module), function)), where
