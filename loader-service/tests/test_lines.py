"""Block-at-a-time decoding: lines, offsets and errors as a line-by-line reader would give them.

The sources here are larger than one 64 KiB block, so lines, bad bytes and oversized records
fall across block boundaries; each expectation is computed from the bytes themselves.
"""

import io

import pytest

from loader_service.errors import SourceError
from loader_service.sources.lines import BadEncodingError, Lines, RecordTooLargeError


def _lines(data: bytes, max_record: int = 1 << 20, encoding: str = "utf-8-sig") -> Lines:
    return Lines(io.BufferedReader(io.BytesIO(data)), encoding, max_record, name="source")


def _read_all(lines: Lines) -> list[str | tuple[str, int]]:
    """Every line, and each oversized record as ("too large", its offset); resets like the readers do."""
    out: list[str | tuple[str, int]] = []
    while True:
        try:
            for line in lines:
                lines.record_bytes = 0
                out.append(line)
            return out
        except RecordTooLargeError as error:
            out.append(("too large", error.offset))


def test_lines_across_blocks_come_out_whole_with_their_line_ends() -> None:
    text = "".join(f"row {number},Zoë Ångström,{'x' * (number % 97)}\r\n" for number in range(5000))
    text += "last line without an end"
    assert _read_all(_lines("\ufeff".encode() + text.encode())) == text.splitlines(keepends=True)


def test_a_bad_byte_past_the_first_block_names_its_line_and_offset() -> None:
    lines = [f"{number},ok\n".encode() for number in range(9000)]
    lines[7000] = b"7000,bad \xff byte\n"
    data = b"".join(lines)
    reader = _lines(data)
    seen: list[str] = []
    with pytest.raises(BadEncodingError) as caught:
        _collect(reader, seen)
    assert len(seen) == 7000  # every line before the bad one was handed out
    assert caught.value.offset == data.index(b"\xff")
    assert caught.value.byte == b"\xff"


def _collect(reader: Lines, seen: list[str]) -> None:
    for line in reader:
        reader.record_bytes = 0
        seen.append(line)


def test_oversized_records_within_and_across_blocks_are_skipped_and_reading_goes_on() -> None:
    limit = 100_000
    parts = [b"a\n", b"b" * 5000 + b"\n", b"c" * 150_000 + b"\n", b"d\n", b"e" * 300_000 + b"\n", b"f"]
    data = b"".join(parts)
    offsets = [sum(len(part) for part in parts[:index]) for index in range(len(parts))]
    assert _read_all(_lines(data, max_record=limit)) == [
        "a\n",
        "b" * 5000 + "\n",
        ("too large", offsets[2]),
        "d\n",
        ("too large", offsets[4]),
        "f",
    ]


def test_a_multi_line_record_over_the_limit_reports_where_it_started() -> None:
    reader = _lines(b"first\n" + b"x" * 600 + b"\n" + b"y" * 600 + b"\nnext\n", max_record=1024)
    assert next(reader) == "first\n"
    reader.record_bytes = 0
    assert next(reader) == "x" * 600 + "\n"  # a quoted record going on: the reader does not reset
    with pytest.raises(RecordTooLargeError) as caught:
        next(reader)
    assert caught.value.offset == len(b"first\n")
    assert next(reader) == "next\n"


def test_no_line_end_in_sight_is_refused() -> None:
    with pytest.raises(SourceError, match=r"at byte offset 0: no line end within"):
        _read_all(_lines(b"\0" * (17 * 4096 + 1), max_record=4096))


def test_a_bom_before_a_bad_first_block_is_still_dropped() -> None:
    reader = _lines("\ufeffid,name\n".encode() + b"1,\xff\n")
    assert next(reader) == "id,name\n"
    reader.record_bytes = 0
    with pytest.raises(BadEncodingError):
        next(reader)
