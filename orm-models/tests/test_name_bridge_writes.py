"""Revision 0002c: in the expand state no write of one name column overwrites another client's change."""

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from released import FIRST_CONTRACT, LAST_1X_HEAD

from orm_models import migrate


@pytest.fixture(scope="module")
def expanded_engine(create_database: Callable[[], str]) -> Iterator[sa.Engine]:
    """A database 1.1.0 clients used, migrated by this release without --contract (one per module)."""
    url = create_database()
    migrate(url, LAST_1X_HEAD)
    with sa.create_engine(url).begin() as connection:
        # Written before any bridge: a 1.0 mononym, a 1.1.0 mononym, a 1.0 name after 0002's backfill.
        connection.execute(
            sa.text(
                "INSERT INTO person (external_id, given_name, last_name, family_name) VALUES "
                "('mono-1.0', 'Plato', '', ''), ('mono-1.1', 'Homer', '', ''), "
                "('late', 'Ada', 'Lovelace', NULL)"
            )
        )
    assert migrate(url) == FIRST_CONTRACT
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def expanded(expanded_engine: sa.Engine) -> Iterator[sa.Connection]:
    """That database in a transaction rolled back after the test (the trigger sees the same OLD/NEW)."""
    with expanded_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def _names(connection: sa.Connection) -> dict[str, tuple[str, str | None]]:
    rows = connection.execute(sa.text("SELECT external_id, last_name, family_name FROM person"))
    return {row.external_id: (row.last_name, row.family_name) for row in rows}


def _run(connection: sa.Connection, sql: str) -> None:
    connection.execute(sa.text(sql))


def test_mononyms_written_before_the_upgrade_are_null(expanded: sa.Connection) -> None:
    assert _names(expanded) == {
        "mono-1.0": ("", None),
        "mono-1.1": ("", None),
        "late": ("Lovelace", "Lovelace"),
    }


def test_a_stale_1_1_dual_write_keeps_a_concurrent_rename(expanded: sa.Connection) -> None:
    """The issue's lost update: 1.1.0 read a mononym, 2.x renamed it, 1.1.0 edits the given name."""
    _run(expanded, "UPDATE person SET family_name = 'Nelson' WHERE external_id = 'mono-1.1'")  # 2.x
    # 1.1.0's hook turns the NULL family_name it read into '' and sends it with the edit.
    _run(expanded, "UPDATE person SET given_name = 'Roger', family_name = '' WHERE external_id = 'mono-1.1'")
    assert _names(expanded)["mono-1.1"] == ("Nelson", "Nelson")


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        # 1.1.0 on a mononym it still sees as one: '' stays NULL.
        ("UPDATE person SET given_name = 'X', family_name = '' WHERE external_id = 'mono-1.0'", ("", None)),
        # 1.0 rename (last_name only) reaches family_name; to '' it is a mononym.
        ("UPDATE person SET last_name = 'King' WHERE external_id = 'late'", ("King", "King")),
        ("UPDATE person SET last_name = '' WHERE external_id = 'late'", ("", None)),
        # 2.x rename and 2.x mononym (NULL) reach last_name.
        ("UPDATE person SET family_name = 'Byron' WHERE external_id = 'late'", ("Byron", "Byron")),
        ("UPDATE person SET family_name = NULL WHERE external_id = 'late'", ("", None)),
        # 1.1.0 renaming: both columns, equal.
        (
            "UPDATE person SET last_name = 'Somerville', family_name = 'Somerville' "
            "WHERE external_id = 'late'",
            ("Somerville", "Somerville"),
        ),
        # Both columns, different values (raw SQL): family_name wins, as in 1.1.0's own hook.
        ("UPDATE person SET last_name = 'A', family_name = 'B' WHERE external_id = 'late'", ("B", "B")),
        # Neither name column touched.
        ("UPDATE person SET given_name = 'Augusta' WHERE external_id = 'late'", ("Lovelace", "Lovelace")),
    ],
)
def test_every_update_shape_keeps_the_mapping(
    expanded: sa.Connection, statement: str, expected: tuple[str, str | None]
) -> None:
    _run(expanded, statement)
    key = "mono-1.0" if "mono-1.0" in statement else "late"
    assert _names(expanded)[key] == expected


@pytest.mark.parametrize(
    ("columns", "values", "expected"),
    [
        ("last_name", "'Hopper'", ("Hopper", "Hopper")),  # 1.0
        ("last_name", "''", ("", None)),  # 1.0 mononym
        ("last_name, family_name", "'', ''", ("", None)),  # 1.1.0 mononym
        ("last_name, family_name", "'Hopper', 'Hopper'", ("Hopper", "Hopper")),  # 1.1.0
        ("family_name", "'Hopper'", ("Hopper", "Hopper")),  # 2.x
        ("family_name", "NULL", ("", None)),  # 2.x mononym
        ("family_name", "''", ("", None)),  # '' is a mononym everywhere
    ],
)
def test_every_insert_shape_keeps_the_mapping(
    expanded: sa.Connection, columns: str, values: str, expected: tuple[str, str | None]
) -> None:
    _run(expanded, f"INSERT INTO person (external_id, given_name, {columns}) VALUES ('new', 'G', {values})")
    assert _names(expanded)["new"] == expected
