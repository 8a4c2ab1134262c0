"""DDL written as SQL text (`op.execute("ALTER TABLE person DROP COLUMN email")`), read as the
Alembic operation that does the same, so the migration lint judges both alike."""

import re
from dataclasses import dataclass

_NAME = r'"?(?:\w+"?\."?)?(\w+)"?'  # person, "person", public.person: the last part
_ALTER_TABLE = rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s+"
_FLAGS = re.IGNORECASE | re.DOTALL


@dataclass(frozen=True)
class RawDDL:
    """One schema change found in SQL text.

    Attributes:
        operation: The Alembic operation that does the same (`drop_column`, `drop_table`,
            `rename_table`, `alter_column`).
        table: The table it changes.
        column: The column, for column changes.
        change: For `alter_column`: `not_null`, `type` or `rename`.
    """

    operation: str
    table: str
    column: str | None = None
    change: str | None = None


_RULES: tuple[tuple[str, str | None, re.Pattern[str]], ...] = (
    (
        "drop_column",
        None,
        re.compile(
            _ALTER_TABLE + rf"DROP\s+(?!CONSTRAINT\b)(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?{_NAME}", _FLAGS
        ),
    ),
    ("drop_table", None, re.compile(rf"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_NAME}", _FLAGS)),
    ("rename_table", None, re.compile(_ALTER_TABLE + r"RENAME\s+TO\b", _FLAGS)),
    (
        "alter_column",
        "rename",
        re.compile(_ALTER_TABLE + rf"RENAME\s+(?!CONSTRAINT\b|TO\b)(?:COLUMN\s+)?{_NAME}\s+TO\b", _FLAGS),
    ),
    (
        "alter_column",
        "not_null",
        re.compile(_ALTER_TABLE + rf"ALTER\s+(?:COLUMN\s+)?{_NAME}\s+SET\s+NOT\s+NULL\b", _FLAGS),
    ),
    (
        "alter_column",
        "type",
        re.compile(_ALTER_TABLE + rf"ALTER\s+(?:COLUMN\s+)?{_NAME}\s+(?:SET\s+DATA\s+)?TYPE\b", _FLAGS),
    ),
)


def raw_ddl(sql: str) -> list[RawDDL]:
    """Every drop, rename, SET NOT NULL and type change `sql` makes to a table or column."""
    found = []
    for operation, change, pattern in _RULES:
        for match in pattern.finditer(sql):
            table, *column = match.groups()
            found.append(RawDDL(operation, table, column[0] if column else None, change))
    return found
