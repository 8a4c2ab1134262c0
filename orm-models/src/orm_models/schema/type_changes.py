"""Is a column type change a widening (every old value still fits) or not?

Types are compared in their canonical PostgreSQL spelling (see `manifest.canonical_type`). Enum
values are not part of it: `diff.py` classifies them apart (an appended value is not a widening).
"""

import enum
import re


class TypeChange(enum.Enum):
    """How a new column type relates to the old one."""

    WIDEN = "widen"
    """Every old value fits and means the same; no table rewrite."""
    WIDEN_REWRITE = "widen, rewrites the table"
    """Every old value fits, but PostgreSQL rewrites every row under an exclusive lock."""
    NARROW = "narrow"
    """Same family, smaller: old values may no longer fit."""
    CHANGE = "change"
    """A different type: old readers and writers see other values."""
    EQUIVALENT = "equivalent"
    """Another spelling of the same type: every old reader and writer sees the same values."""


# Integer widths, smallest first: Integer -> BigInteger is a widening that rewrites the table.
_INTEGERS = ["SMALLINT", "INTEGER", "BIGINT"]
_VARCHAR = re.compile(r"^VARCHAR(?:\((\d+)\))?$")
_NUMERIC = re.compile(r"^NUMERIC(?:\((\d+)(?:, (\d+))?\))?$")


def _text_length(spelling: str) -> int | None:
    """Length limit of a text type (None = unbounded); raises KeyError for non-text types."""
    if spelling == "TEXT":
        return None
    match = _VARCHAR.match(spelling)
    if match is None:
        raise KeyError(spelling)
    return int(match.group(1)) if match.group(1) else None


def compare_types(old: str, new: str) -> TypeChange:
    """Classify the change of a column type from `old` to `new` (both canonical spellings)."""
    try:
        old_length, new_length = _text_length(old), _text_length(new)
    except KeyError:
        pass
    else:
        if old_length is None and new_length is None:
            return TypeChange.EQUIVALENT  # TEXT and unbounded VARCHAR: same storage, same values
        if new_length is None or (old_length is not None and new_length >= old_length):
            return TypeChange.WIDEN
        return TypeChange.NARROW
    if old in _INTEGERS and new in _INTEGERS:
        return TypeChange.WIDEN_REWRITE if _INTEGERS.index(new) > _INTEGERS.index(old) else TypeChange.NARROW
    old_numeric, new_numeric = _NUMERIC.match(old), _NUMERIC.match(new)
    if old_numeric and new_numeric:
        return _compare_numeric(old_numeric, new_numeric)
    return TypeChange.CHANGE


def _compare_numeric(old: re.Match[str], new: re.Match[str]) -> TypeChange:
    if new.group(1) is None:
        return TypeChange.WIDEN  # unconstrained NUMERIC holds anything
    if old.group(1) is None:
        return TypeChange.NARROW
    old_precision, new_precision = int(old.group(1)), int(new.group(1))
    old_scale, new_scale = int(old.group(2) or 0), int(new.group(2) or 0)
    if new_scale == old_scale and new_precision >= old_precision:
        return TypeChange.WIDEN  # more integer digits, same scale: metadata-only in PostgreSQL
    if new_scale >= old_scale and new_precision - new_scale >= old_precision - old_scale:
        return TypeChange.WIDEN_REWRITE
    return TypeChange.NARROW
