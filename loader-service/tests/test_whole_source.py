"""Nothing is written unless the whole, unchanged source was read: a file truncated, rewritten,
replaced or grown mid-read, or a URL whose ETag changed, aborts with exit 1 and the previous
data byte for byte as it was."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import fingerprint, person_rows, write_csv
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.errors import EXIT_FAILED, SourceChangedError, SourceError
from loader_service.report import LogProgress
from loader_service.run import RunOptions, run_load

ROWS = 20_000  # ~1.7 MB: the first batches are validated long before the last byte is read


class _Meddling(LogProgress):
    """Calls `meddle` once, when the run reaches `when` (the first batch read, or a phase)."""

    def __init__(self, meddle: Callable[[], None], when: str = "reading") -> None:
        super().__init__(3600)
        self._meddle, self._when, self.done = meddle, when, False

    def _once(self) -> None:
        if not self.done:
            self.done = True
            self._meddle()

    def update(self, records: int) -> None:
        super().update(records)
        if self._when == "reading" and records:
            self._once()

    def phase(self, name: str) -> None:
        super().phase(name)
        if name == self._when:
            self._once()


@pytest.fixture
def previous(settings: Settings, migrated_engine: Engine, tmp_path: Path) -> tuple[int, str]:
    run_load(settings, RunOptions(str(write_csv(tmp_path / "v1.csv", person_rows(ROWS)))))
    return fingerprint(migrated_engine)


def _refused(settings: Settings, source: Path, progress: _Meddling, **options: object) -> str:
    small_batches = settings.model_copy(update={"batch_size": 100})
    with pytest.raises(SourceChangedError) as raised:
        run_load(small_batches, RunOptions(str(source), **options), progress)  # type: ignore[arg-type]
    assert progress.done
    assert raised.value.exit_code == EXIT_FAILED
    assert "the source changed while it was read" in str(raised.value)
    assert "nothing was changed" in str(raised.value)
    return str(raised.value)


def test_a_file_truncated_at_a_line_boundary_while_read_is_refused(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, previous: tuple[int, str]
) -> None:
    source = write_csv(tmp_path / "shrink.csv", person_rows(ROWS, variant="-new"))
    data = source.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1  # an export job rewriting it: whole lines only

    message = _refused(settings, source, _Meddling(lambda: os.truncate(source, cut)))

    assert f"of the {len(data)} it had when opened" in message
    assert fingerprint(migrated_engine) == previous


def test_a_file_replaced_in_place_while_read_is_refused_even_within_the_error_budget(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, previous: tuple[int, str]
) -> None:
    source = write_csv(tmp_path / "replaced.csv", person_rows(ROWS, variant="-new"))
    other = write_csv(tmp_path / "other.csv", person_rows(ROWS // 10, start=ROWS)).read_bytes()

    def cp_over() -> None:  # `cp other.csv replaced.csv`: same inode, truncated and rewritten
        with source.open("r+b") as handle:
            handle.truncate(0)
            handle.write(other)

    _refused(settings, source, _Meddling(cp_over), max_errors=10, rejects=tmp_path / "r.jsonl")

    assert fingerprint(migrated_engine) == previous


def test_a_file_renamed_over_with_the_same_size_is_refused(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, previous: tuple[int, str]
) -> None:
    source = write_csv(tmp_path / "renamed.csv", person_rows(ROWS, variant="-AA"))
    twin = write_csv(tmp_path / "twin.tmp", person_rows(ROWS, variant="-BB"))
    assert twin.stat().st_size == source.stat().st_size

    message = _refused(settings, source, _Meddling(lambda: os.replace(twin, source)))

    assert "inode changed" in message
    assert fingerprint(migrated_engine) == previous


def test_a_file_that_grows_while_read_is_refused(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, previous: tuple[int, str]
) -> None:
    source = write_csv(tmp_path / "grows.csv", person_rows(ROWS, variant="-new"))

    def append() -> None:
        with source.open("a", encoding="utf-8") as handle:
            handle.write("p-99999,Late,Row,late@example.com,org-1,Organization 1\n")

    _refused(settings, source, _Meddling(append))

    assert fingerprint(migrated_engine) == previous


def test_a_file_changed_after_reading_but_before_the_commit_is_refused(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, previous: tuple[int, str]
) -> None:
    source = write_csv(tmp_path / "touched.csv", person_rows(ROWS, variant="-new"))

    def touch() -> None:
        stat = source.stat()
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    _refused(settings, source, _Meddling(touch, when="merging"))

    assert fingerprint(migrated_engine) == previous


def test_a_url_whose_etag_changed_while_read_is_refused(
    settings: Settings,
    migrated_engine: Engine,
    previous: tuple[int, str],
    http_server: tuple[str, Path, dict[str, int]],
) -> None:
    base, served, _ = http_server
    write_csv(served / "people.csv", person_rows(50, variant="-new"))

    with pytest.raises(SourceChangedError, match=r'changed while it was read \(etag "v1" when opened, "v2"'):
        run_load(settings, RunOptions(f"{base}/changing/people.csv"))

    assert fingerprint(migrated_engine) == previous


@pytest.mark.parametrize("cut", ["cut", "chunked-cut"])
def test_a_url_body_cut_short_is_refused(
    settings: Settings,
    migrated_engine: Engine,
    previous: tuple[int, str],
    http_server: tuple[str, Path, dict[str, int]],
    cut: str,
) -> None:
    base, served, _ = http_server
    write_csv(served / "people.csv", person_rows(2000, variant="-new"))

    with pytest.raises(SourceError, match="connection lost while reading"):
        run_load(settings, RunOptions(f"{base}/{cut}/people.csv"))

    assert fingerprint(migrated_engine) == previous
