"""One JSON Lines record parsed strictly, with its work bounded before parsing.

`json.loads` as it comes accepts what a careful exporter never writes and we must not guess
about: a key given twice (the last silently wins), `NaN` and `Infinity`, numbers of any length
(past 4,300 digits CPython raises a bare `ValueError`), nesting as deep as the stack allows
(`RecursionError`). Each of these is a per-record `StrictJsonError` here, with a reason.
"""

import json
from typing import Any

MAX_NUMBER_TEXT = 64
"""Longest number text accepted; an id longer than this would not fit its column anyway."""
MAX_DEPTH = 32
"""Deepest nesting accepted; a record is one flat object, and deeper values are rejects anyway."""


class StrictJsonError(ValueError):
    """The line is JSON we do not accept; `str()` is the reason."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    item = dict(pairs)
    if len(item) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise StrictJsonError(f"has the key {twice[:64]!r} more than once")
    return item


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_TEXT:
        raise StrictJsonError(f"has a number of {len(text):,} characters (at most {MAX_NUMBER_TEXT})")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_TEXT:
        raise StrictJsonError(f"has a number of {len(text):,} characters (at most {MAX_NUMBER_TEXT})")
    return float(text)


def _constant(text: str) -> float:
    raise StrictJsonError(f"has {text}, which is not a JSON number")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_integer, parse_float=_float, parse_constant=_constant
)


def _depth(line: str) -> int:
    """How deeply arrays and objects nest in `line`, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads(line: str) -> Any:
    """The value of one line; `json.JSONDecodeError` if it is not JSON, `StrictJsonError` if not ours."""
    # The character scan runs only when the line has brackets enough to be deep: records are flat.
    if line.count("[") + line.count("{") > MAX_DEPTH and _depth(line) > MAX_DEPTH:
        raise StrictJsonError(f"nests arrays or objects more than {MAX_DEPTH} deep")
    return _DECODER.decode(line)
