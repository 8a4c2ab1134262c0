"""The long loops of `demo` and `publish` say what they do, n of m, and how long it takes."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import ROOT
from tools.release import progress, releases
from tools.release.releases import Release


def test_each_release_announces_then_numbers_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    recorded = releases.load(ROOT)
    seen: list[Release] = []
    for known in progress.each_release(recorded, "building and publishing", "orm-models {0.version}"):
        seen.append(known)
        print("work")
    assert seen == recorded
    lines = capsys.readouterr().out.splitlines()
    total = len(recorded)
    estimate = progress._duration(total * progress.SECONDS_PER_RELEASE)
    assert lines[0].startswith(f"building and publishing: {total} release(s), about {estimate}")
    steps = [line for line in lines if line.startswith("[")]
    assert [step.split(" (")[0] for step in steps] == [
        f"[{n}/{total}] orm-models {known.version}" for n, known in enumerate(recorded, 1)
    ]
    assert "left)" in steps[-1]  # from the second step on: the time left at the pace so far
    assert lines[-1].startswith(f"building and publishing: {total} release(s) done in ")


def test_nothing_to_do_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(progress.each_release([], "building and publishing")) == []
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("seconds", "shown"), [(9.6, "10 s"), (59.4, "59 s"), (80, "1 min 20 s"), (600, "10 min 00 s")]
)
def test_durations_read_as_minutes_and_seconds(seconds: float, shown: str) -> None:
    assert progress._duration(seconds) == shown
