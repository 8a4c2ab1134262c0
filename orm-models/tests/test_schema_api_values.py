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


_ALIASES = """
from typing import Annotated
from sqlalchemy import Identity
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

IntPk = Annotated[int, mapped_column(Identity(), primary_key=True)]


class Base(DeclarativeBase): ...
"""


@pytest.mark.parametrize(
    ("body_after", "kinds"),
    [
        # The alias's expansion, written out: the same type, and (griffe's labels aside) the same attribute.
        ("id: Mapped[int] = mapped_column(Identity(), primary_key=True)", set()),
        ("id: Mapped[str] = mapped_column(primary_key=True)", {"api_changed"}),  # another type
    ],
)
def test_an_annotated_alias_and_its_expansion_are_one_type(
    tmp_path: Any, body_after: str, kinds: set[str]
) -> None:
    model = "\n\nclass Person(Base):\n    __tablename__ = 'person'\n    {}\n"
    old = _api(tmp_path / "old", "", _ALIASES + model.format("id: Mapped[IntPk]"))
    new = _api(tmp_path / "new", "", _ALIASES + model.format(body_after))
    assert old["pkg.jobs.IntPk"]["alias_of"] == "int"
    changed = [c for c in diff_api(old, new) if c.subject == "pkg.jobs.Person.id"]
    assert {c.kind for c in changed} == kinds, changed


def test_a_manifest_without_aliases_borrows_the_current_definition(tmp_path: Any) -> None:
    """The committed baseline predates `alias_of`: the tree's definition of the same name stands in."""
    model = "\n\nclass Person(Base):\n    __tablename__ = 'person'\n    {}\n"
    old = _api(tmp_path / "old", "", _ALIASES + model.format("id: Mapped[IntPk]"))
    old["pkg.jobs.IntPk"].pop("alias_of")
    new = _api(
        tmp_path / "new",
        "",
        _ALIASES + model.format("id: Mapped[int] = mapped_column(Identity(), primary_key=True)"),
    )
    assert diff_api(old, new) == []
    labels = {**new["pkg.jobs.Person.id"], "annotation": "int"}  # not mapped: its labels still count
    assert [
        c.kind
        for c in diff_api(
            {**old, "pkg.jobs.Person.id": {**old["pkg.jobs.Person.id"], "annotation": "int"}},
            {**new, "pkg.jobs.Person.id": labels},
        )
    ] == ["api_changed"]
