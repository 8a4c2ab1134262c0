"""Small pieces: the declared mapping's rules, durations, redaction, format detection."""

import pytest
from pydantic import ValidationError

from loader_service.errors import SourceError
from loader_service.mapping import FIELDS, describe, valid_key, validate_row
from loader_service.run import default_rejects_path
from loader_service.schedule import parse_duration
from loader_service.sources import detect_format, redact


def test_mapping_is_declared_for_every_target_column() -> None:
    assert [(spec.source, spec.target) for spec in FIELDS] == [
        ("id", "person.external_id"),
        ("givenName", "person.given_name"),
        ("familyName", "person.family_name"),
        ("email", "person.email"),
        ("org", "organization.external_id"),
        ("orgName", "organization.name"),
    ]
    assert FIELDS[1].max_length == 100  # from the model, not repeated by hand


def test_validation_cleans_and_explains() -> None:
    assert validate_row((" p-1 ", "Ada", "", "ada@example.com", 7, None)) == (
        "p-1",
        "Ada",
        "",
        "ada@example.com",
        "7",
        None,
    )
    with pytest.raises(ValidationError) as raised:
        validate_row((None, "x" * 101, None, "ada at example", None, None))
    assert [(e.field, e.reason) for e in describe(raised.value.errors())] == [
        ("id", "is required"),
        ("givenName", "String should have at most 100 characters"),
        ("email", "is not an email address: An email address must have an @-sign."),
    ]
    assert valid_key(" k ") == "k"
    assert valid_key("") is None


_ROWS = [
    (" p-1 ", "Ada", "", "ada@example.com", "org-1", "Org"),
    (" p-1 ", "Ada", "", "ada@example.com", 7, None),  # a numeric org id: the text rules refuse it
    (39.0, " Ada ", None, None, None, None),
    (39.5, "Ada", None, None, None, None),
    (None, "x" * 101, None, "ada at example", None, None),
    ("p-2", " ", "x" * 101, "ü@exämple.org", True, ["list"]),
    ("p-3", 4.5, {"x": 1}, "a@b.test", "o", "n"),
    ("p-4", "Ada", None, "ada@example.com", "  ", ""),
]


@pytest.mark.parametrize("values", _ROWS)
def test_text_fast_path_decides_as_the_full_rules(values: tuple[object, ...]) -> None:
    """`validate_row` tries rules without the id callbacks first: same result, same errors, always."""
    from loader_service.mapping import validate_any_row

    def outcome(validate: object) -> object:
        try:
            return validate(values)  # type: ignore[operator]
        except ValidationError as error:
            return error.errors(include_url=False)

    assert outcome(validate_row) == outcome(validate_any_row)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("30s", 30.0), ("15m", 900.0), ("1h30m", 5400.0), ("250ms", 0.25)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0s", "5 parsecs"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|positive"):
        parse_duration(text)


def test_redaction_and_formats() -> None:
    assert redact("https://u:p@host.example:8443/a/b.csv?sig=x") == "https://host.example:8443/a/b.csv?…"
    assert redact("/data/people.csv") == "/data/people.csv"
    assert detect_format("people.csv.gz") == "csv"
    assert detect_format("https://h/x.ndjson?sig=1") == "jsonl"
    with pytest.raises(SourceError):
        detect_format("people.parquet")
    assert default_rejects_path("https://h/dir/people.csv.gz?sig=1").name == "people.rejects.jsonl"
