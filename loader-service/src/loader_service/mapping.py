"""The declared mapping from the source's records to our tables, and its validation.

Every external field the loader reads is listed in `FIELDS`, with the column it lands in and
the rule it must pass; nothing else is read. Lengths come from the models, so a value that
validates here always fits its column.

Validation is pydantic, on purpose in its fastest form: one `TypeAdapter` over a tuple of
constrained strings (validated in pydantic-core, no Python per field), fed the row's values in
declared order. A `BaseModel` per row measured ~2x slower end to end on 1M rows (see README).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from sqlalchemy import String

from loader_service import emails
from loader_service.emails import email_address
from orm_models import Organization, Person

EMAIL_PATTERN = r"^(?:[^@\s]+@[^@\s]+\.[^@\s]+)?$"
"""The loose pattern of loader-service 1.0 (kept for the benchmark's comparison model only)."""
# Integers a JSON number (a double) holds exactly are those below 2**53: 9007199254740993.0
# already is 2**53 once parsed, so 2**53 itself may stand for another number and is refused too.
_EXACT = 2**53


def identifier_text(value: object) -> object:
    """An id as text: JSON sources may give ids as numbers, and 39, 39.0 and "39" are one key.

    Integral numbers become their canonical integer text; a fraction (39.5), a float of 2**53 or
    more (not exact), a boolean or anything else that is not text is refused.
    """
    if type(value) is str or value is None:  # the hot path (every CSV value): no conversion
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer() and abs(value) < _EXACT:
        return str(int(value))
    raise PydanticCustomError("id_type", "must be text or an integer, got {kind} {value}", _shown(value))


def _shown(value: object) -> dict[str, str]:
    kind = {bool: "a boolean", int: "the number", float: "the number", dict: "an object", list: "a list"}
    text = repr(value)
    return {
        "kind": kind.get(type(value), type(value).__name__),
        "value": text if len(text) <= 40 else text[:40] + "…",
    }


def _length(model: type[Person] | type[Organization], column: str) -> int:
    column_type = model.__table__.c[column].type
    if not isinstance(column_type, String) or column_type.length is None:  # pragma: no cover
        raise TypeError(f"{model.__tablename__}.{column} is not a bounded string")
    return column_type.length


@dataclass(frozen=True)
class FieldSpec:
    """One external field: where it goes and what it must look like."""

    source: str
    """Name in the source (CSV header, JSON key)."""
    target: str
    """`table.column` it is stored in (documentation and error messages)."""
    staging: str
    """Column of the loader's staging table."""
    max_length: int
    required: bool = False
    pattern: str | None = None
    pattern_hint: str = "has an invalid format"
    """The reason shown when `pattern` does not match (the raw regex helps nobody)."""
    identifier: bool = False
    """An id: numbers are accepted as their canonical integer text. Other fields take text only."""
    check: Callable[[str | None], str | None] | None = None
    """A validator run on the cleaned text (raises `PydanticCustomError` with the reason)."""
    fast_pattern: str | None = None
    """For the fast validator: a pattern (Rust regex) accepting only values `check` accepts."""
    fast_max_length: int | None = None
    """For the fast validator: a length limit `fast_pattern` assumes."""

    def fast(self) -> "FieldSpec":
        """This field in the fast validator: ids as text only, `check` replaced by its pattern.

        It accepts a subset of what the field accepts, with the same result; a value outside it
        goes to the full validator, which decides.
        """
        if self.fast_pattern is None:
            return replace(self, identifier=False)
        return replace(
            self,
            identifier=False,
            check=None,
            pattern=self.fast_pattern,
            max_length=min(self.max_length, self.fast_max_length or self.max_length),
        )

    def annotation(self) -> Any:
        constraints = StringConstraints(
            strip_whitespace=True,
            min_length=1 if self.required else None,
            max_length=self.max_length,
            pattern=self.pattern,
        )
        if self.identifier:
            text = Annotated[str, constraints]
            return Annotated[text if self.required else text | None, BeforeValidator(identifier_text)]
        annotation: Any = Annotated[str, constraints] if self.required else Annotated[str, constraints] | None
        if self.check is not None:
            annotation = Annotated[annotation, AfterValidator(self.check)]
        return annotation


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "id",
        "person.external_id",
        "external_id",
        _length(Person, "external_id"),
        required=True,
        identifier=True,
    ),
    FieldSpec("givenName", "person.given_name", "given_name", _length(Person, "given_name"), required=True),
    FieldSpec("familyName", "person.family_name", "family_name", _length(Person, "family_name")),
    FieldSpec(
        "email",
        "person.email",
        "email",
        _length(Person, "email"),
        check=email_address,
        fast_pattern=emails.FAST_PATTERN,
        fast_max_length=emails.FAST_MAX_LENGTH,
    ),
    FieldSpec(
        "org",
        "organization.external_id",
        "org_external_id",
        _length(Organization, "external_id"),
        identifier=True,
    ),
    FieldSpec("orgName", "organization.name", "org_name", _length(Organization, "name")),
)
"""Source field -> column, in staging-table order. `org` links the person to an organization."""

KEY_FIELD = FIELDS[0]
SOURCE_NAMES: tuple[str, ...] = tuple(spec.source for spec in FIELDS)
REQUIRED_NAMES: tuple[str, ...] = tuple(spec.source for spec in FIELDS if spec.required)

Values = tuple[str | None, ...]

# Strict text: a JSON number where a name or an email belongs is a reject, not "4.5" stored as
# a name. Ids (`identifier=True`) take integral numbers as their canonical text instead.
_ROW_TYPE: Any = tuple.__class_getitem__(tuple(spec.annotation() for spec in FIELDS))
_ROW: TypeAdapter[Values] = TypeAdapter(_ROW_TYPE)
_KEY: TypeAdapter[str] = TypeAdapter(KEY_FIELD.annotation())
# A fast validator for the common record: ids given as text (every CSV record, most JSON ones),
# so no `identifier_text`, and plain e-mail addresses, checked by `emails.FAST_PATTERN` inside
# pydantic-core instead of a Python call: no Python at all per record. It accepts a subset of
# the rows `_ROW` accepts, with the same result; any row it refuses goes to `_ROW`, which decides
# and words the errors. Measured on the benchmark's CSV: ~2x faster without `identifier_text`,
# ~2x again without the e-mail callback (0.51 s -> 0.25 s CPU per 300k records).
_TEXT_ROW_TYPE: Any = tuple.__class_getitem__(tuple(spec.fast().annotation() for spec in FIELDS))
# pydantic-core's validators themselves: `TypeAdapter.validate_python` adds a Python call a row.
validate_text_row: Callable[[tuple[object, ...]], Values] = TypeAdapter(
    _TEXT_ROW_TYPE
).validator.validate_python
"""The fast validator alone: its ValidationError means "ask `validate_any_row`", never "invalid"."""
validate_any_row: Callable[[tuple[object, ...]], Values] = _ROW.validator.validate_python
"""The validator that decides, and words the errors (slower: Python callbacks)."""


def validate_row(values: tuple[object, ...]) -> Values:
    """Validate one record's values (in `FIELDS` order); returns the cleaned values or raises."""
    try:
        clean: Values = validate_text_row(values)
    except ValidationError:
        clean = validate_any_row(values)
    return clean


def valid_key(value: object) -> str | None:
    """The record's natural key if that field alone is valid (a rejected record still names its row)."""
    try:
        return _KEY.validate_python(value)
    except ValidationError:
        return None


@dataclass(frozen=True)
class FieldError:
    """Why one field of one record was rejected."""

    field: str
    reason: str


def describe(errors: list[ErrorDetails]) -> list[FieldError]:
    """Turn pydantic's errors on a row into (external field, human reason) pairs."""
    described = []
    for error in errors:
        position = error["loc"][0] if error["loc"] else None
        spec = FIELDS[position] if isinstance(position, int) and position < len(FIELDS) else None
        name = spec.source if spec else "?"
        kind = error["type"]
        if kind == "string_pattern_mismatch" and spec is not None:
            reason = spec.pattern_hint
        elif kind == "string_too_short" or (kind == "string_type" and error.get("input") is None):
            reason = "is required"
        elif kind == "string_type":
            reason = "must be text, got {kind} {value}".format(**_shown(error.get("input")))
        else:
            reason = error["msg"]
        described.append(FieldError(name, reason))
    return described
