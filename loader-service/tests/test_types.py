"""Types are strict: a number is no name, email or organization name; an id given as a number
is its canonical integer text, so 39, 39.0 and "39" are one person across runs."""

import json
from pathlib import Path

import pytest
from conftest import people, person_rows, write_jsonl
from pydantic import ValidationError
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.mapping import describe, valid_key, validate_row
from loader_service.run import RunOptions, run_load


@pytest.mark.parametrize(
    ("position", "value", "reason"),
    [
        (1, 4.5, "givenName: must be text, got the number 4.5"),
        (2, 12, "familyName: must be text, got the number 12"),
        (3, 7, "email: must be text, got the number 7"),
        (5, 1e3, "orgName: must be text, got the number 1000.0"),
        (1, True, "givenName: must be text, got a boolean True"),
        (0, 39.5, "id: must be text or an integer, got the number 39.5"),
        (0, 2.0**60, "id: must be text or an integer, got the number 1.152921504606847e+18"),
        (0, False, "id: must be text or an integer, got a boolean False"),
        (4, [1], "org: must be text or an integer, got a list [1]"),
    ],
)
def test_numbers_where_text_belongs_are_rejected(position: int, value: object, reason: str) -> None:
    values: list[object] = ["p-1", "Ada", "Lovelace", "ada@example.com", "org-1", "Org"]
    values[position] = value

    with pytest.raises(ValidationError) as raised:
        validate_row(tuple(values))

    assert [f"{e.field}: {e.reason}" for e in describe(raised.value.errors())] == [reason]


@pytest.mark.parametrize("value", [39, 39.0, "39", " 39 ", "\t39\n"])
def test_integral_ids_are_canonical_text(value: object) -> None:
    assert validate_row((value, "Ada", None, None, value, None))[::4] == ("39", "39")
    assert valid_key(value) == "39"


def test_ids_stay_stable_whether_given_as_integer_float_or_text(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    def load(key: object, name: str = "p.jsonl") -> None:
        rows = person_rows(2)
        rows[0]["id"] = key
        rows[0]["org"] = key
        run_load(settings, RunOptions(str(write_jsonl(tmp_path / name, rows))))

    load(39)
    first = people(migrated_engine)["39"]
    for later in (39.0, "39", 3.9e1):
        load(later)
        assert people(migrated_engine) == {"39": first, "p-00001": people(migrated_engine)["p-00001"]}


def test_a_number_as_a_name_is_a_per_record_reject_not_a_stored_name(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    rows = person_rows(3)
    rows[1]["givenName"] = 4.5
    rejects = tmp_path / "r.jsonl"

    summary = run_load(
        settings, RunOptions(str(write_jsonl(tmp_path / "n.jsonl", rows)), max_errors=1, rejects=rejects)
    )

    assert (summary.inserted, summary.rejected) == (2, 1)
    assert "p-00001" not in people(migrated_engine)
    assert json.loads(rejects.read_text())["errors"] == [
        {"field": "givenName", "reason": "must be text, got the number 4.5"}
    ]
