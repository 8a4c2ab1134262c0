"""The Python API by value: defaults, parameter kinds, return annotations, shadowed re-exports."""

from typing import Any

import pytest

from orm_models.schema import api_snapshot, diff_api

API_OLD = """
from .jobs import run as run
__all__ = ["run"]
"""


def _api(tmp_path: Any, init: str, jobs: str) -> dict[str, Any]:
    package = tmp_path / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(init)
    (package / "jobs.py").write_text(jobs)
    return api_snapshot("pkg", [tmp_path])


@pytest.mark.parametrize(
    ("jobs_after", "init_after", "kind"),
    [
        ("def run(n: int = 2) -> int: ...", API_OLD, "api_changed"),  # default value
        ("def run(*, n: int = 1) -> int: ...", API_OLD, "api_changed"),  # now keyword-only
        ("def run(n: int = 1) -> str: ...", API_OLD, "api_changed"),  # return annotation
        ("def run(n: int = 1, m: int = 0) -> int: ...", API_OLD, "api_extended"),
        ("def run(n: int = 1) -> int: ...\ndef walk() -> None: ...", API_OLD, "api_added"),
        ("def run(n: int = 1) -> int: ...", "__all__ = []\n", "api_removed"),  # re-export gone
    ],
)
def test_api_by_value(tmp_path: Any, jobs_after: str, init_after: str, kind: str) -> None:
    old = _api(tmp_path / "old", API_OLD, "def run(n: int = 1) -> int: ...")
    new = _api(tmp_path / "new", init_after, jobs_after)
    assert kind in {c.kind for c in diff_api(old, new)}


def test_a_reexport_shadowed_by_its_submodule_is_still_seen(tmp_path: Any) -> None:
    # `from .run import run` in pkg/__init__ where pkg/run.py exists: griffe sees the module.
    def snapshot(root: Any, init: str) -> dict[str, Any]:
        package = root / "pkg"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(init)
        (package / "run.py").write_text("def run() -> None: ...\n")
        return api_snapshot("pkg", [root])

    old = snapshot(tmp_path / "old", 'from pkg.run import run\n__all__ = ["run"]\n')
    new = snapshot(tmp_path / "new", "__all__: list[str] = []\n")
    assert ("api_removed", "pkg.run") in {(c.kind, c.subject) for c in diff_api(old, new)}


@pytest.mark.parametrize(
    ("jobs_before", "jobs_after", "kinds"),
    [
        # A parameter that accepts more breaks no caller (orm_models.migrate.alembic_config in 2.4).
        ("def run(n: int = 1) -> int: ...", "def run(n: int | str = 1) -> int: ...", {"api_extended"}),
        ("def run(n: int | str = 1) -> int: ...", "def run(n: int = 1) -> int: ...", {"api_changed"}),
        (
            "def run(n: A[B | C] | None = 1) -> int: ...",
            "def run(n: A[B] | None = 1) -> int: ...",
            {"api_changed"},
        ),
        # A return type that can be fewer things gives callers nothing they did not handle.
        ("def run(n: int = 1) -> int | None: ...", "def run(n: int = 1) -> int: ...", {"api_extended"}),
        ("def run(n: int = 1) -> int: ...", "def run(n: int = 1) -> int | None: ...", {"api_changed"}),
        # The old spellings of a union are the same union.
        ("def run(n: Optional[int] = 1) -> int: ...", "def run(n: int | None = 1) -> int: ...", set()),
        (
            "def run(n: Optional[int] = 1) -> int: ...",
            "def run(n: int | str | None = 1) -> int: ...",
            {"api_extended"},
        ),
        (
            "def run(n: typing.Union[int, str] = 1) -> int: ...",
            "def run(n: int = 1) -> int: ...",
            {"api_changed"},
        ),
        ("def run(n: int = 1) -> Optional[int]: ...", "def run(n: int = 1) -> int | None: ...", set()),
    ],
)
def test_annotations_are_compared_as_unions(
    tmp_path: Any, jobs_before: str, jobs_after: str, kinds: set[str]
) -> None:
    old = _api(tmp_path / "old", API_OLD, jobs_before)
    new = _api(tmp_path / "new", API_OLD, jobs_after)
    assert {c.kind for c in diff_api(old, new)} == kinds
