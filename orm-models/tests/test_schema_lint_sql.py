"""Migration lint of SQL however the upgrade sends it: `op.execute`, or on the migration's connection."""

from typing import Any

import pytest

from orm_models.schema import lint_revision

_REVISION = """
import sqlalchemy as sa
from alembic import op
from sqlalchemy import text
from sqlalchemy.orm import Session

revision = "0009"
down_revision = "0008"
phase = "{phase}"
{extra}

def upgrade() -> None:
{body}
"""

# Every way an upgrade sends SQL; `{sql}` is the SQL as a Python string literal.
_SENDS = {
    "op.execute": ("    op.execute({sql})", ""),
    "op.execute(sa.text)": ("    op.execute(sa.text({sql}))", ""),
    "op.get_bind().execute": ("    op.get_bind().execute(sa.text({sql}))", ""),
    "op.get_bind().exec_driver_sql": ("    op.get_bind().exec_driver_sql({sql})", ""),
    "bind = op.get_bind()": ("    bind = op.get_bind()\n    bind.execute(text({sql}))", ""),
    "connection, statement names": (
        "    connection = op.get_bind()\n    statement = sa.text({sql})\n    connection.execute(statement)",
        "",
    ),
    "a name bound to a bound name": (
        "    bind = op.get_bind()\n    conn = bind\n    conn.execute(sa.text({sql}).bindparams(n=1))",
        "",
    ),
    "op.get_context().connection": ("    op.get_context().connection.execute(sa.text({sql}))", ""),
    "module-level constant": ("    op.get_bind().execute(sa.text(STATEMENT))", "STATEMENT = {sql}"),
    "Session on the bind": (
        "    with Session(bind=op.get_bind()) as session:\n        session.execute(sa.text({sql}))",
        "",
    ),
    "in a batch loop": (
        "    backfill = sa.text({sql})\n"
        '    while op.get_bind().execute(backfill, {{"rows": 500}}).rowcount:\n'
        "        pass",
        "",
    ),
}


def _lint(send: str, sql: str, phase: str = "expand") -> Any:
    body, extra = _SENDS[send]
    literal = repr(sql)
    return lint_revision(
        _REVISION.format(phase=phase, extra=extra.format(sql=literal), body=body.format(sql=literal))
    )


@pytest.mark.parametrize("send", _SENDS)
@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("UPDATE person SET email = lower(email)", "execute UPDATE person"),
        ("DELETE FROM person WHERE email IS NULL", "execute DELETE person"),
        ("CREATE INDEX ix_person_email ON person (email)", "execute CREATE INDEX"),
    ],
)
def test_sql_sent_any_way_is_linted(send: str, sql: str, key: str) -> None:
    assert [f.key for f in _lint(send, sql).unsafe] == [key]


@pytest.mark.parametrize("send", _SENDS)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE person SET email = lower(email) "
        "WHERE id IN (SELECT id FROM person WHERE email <> lower(email) LIMIT :rows)",
        "DELETE FROM person WHERE id BETWEEN :low AND :high",
        "CREATE INDEX CONCURRENTLY ix_person_email ON person (email)",
    ],
)
def test_batched_sql_sent_any_way_passes(send: str, sql: str) -> None:
    assert _lint(send, sql).unsafe == []


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ("    op.get_bind().execute(make_statement())", ""),
        ("    bind = op.get_bind()\n    bind.exec_driver_sql(sql)", ""),  # never assigned: unknown
        ("    for statement in STATEMENTS:\n        op.get_bind().execute(sa.text(statement))", ""),
        ('    statement = "SELECT 1"\n    statement += suffix\n    op.get_bind().execute(statement)', ""),
        ("    op.get_bind().execute(sa.update(person).values(email=None))", ""),
        ("    op.get_bind().execute(sa.text(STATEMENT))", 'STATEMENT = "SELECT 1"\nSTATEMENT = other'),
    ],
)
def test_sql_the_lint_cannot_read_needs_a_reason(body: str, extra: str) -> None:
    result = lint_revision(_REVISION.format(phase="expand", extra=extra, body=body))
    assert [f.key for f in result.unsafe] == ["execute <computed SQL>"]


def test_reads_and_inserts_lock_no_row() -> None:
    body = (
        "    bind = op.get_bind()\n"
        "    rows = bind.execute(sa.select(person.c.id).where(person.c.email.is_(None))).all()\n"
        "    bind.execute(person.insert().values(email='x'))\n"
        '    bind.execute(sa.text("SELECT count(*) FROM person"))'
    )
    assert lint_revision(_REVISION.format(phase="expand", extra="", body=body)).findings == []


def test_a_bind_that_is_not_the_migrations_is_not_linted() -> None:
    """Only the migration's own connection: a `.execute` on anything else sends no SQL here."""
    body = '    cursor = open_report()\n    cursor.execute("UPDATE person SET email = NULL")'
    assert lint_revision(_REVISION.format(phase="expand", extra="", body=body)).findings == []
