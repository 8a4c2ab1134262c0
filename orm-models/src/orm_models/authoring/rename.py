"""The two revisions of a column rename: expand (new column, sync trigger, batched backfill), contract.

A rename in place breaks every client on the old release (docs/schema-versioning.md). The safe route is
two revisions on the two branches:

- **expand**: add the new column (nullable), a trigger that keeps the two columns in step on
  every write (a client on either name sees the other's writes: it copies only the column a
  statement really changed, as the 0002c bridge does), then copy the old values over in batches;
- **contract**: drop the trigger and the old column, once no live client maps it (the gate).

The services move from the old name to the new one at their own pace between the two releases.
"""

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
BATCH_ROWS = 1000


@dataclass(frozen=True)
class Rename:
    """`table.old:new` from `orm-models revision --rename`."""

    table: str
    old: str
    new: str

    @classmethod
    def parse(cls, text: str) -> "Rename":
        """`person.email:email_address`; raises ValueError naming the expected form."""
        match = re.fullmatch(r"\s*(\w+)\.(\w+):(\w+)\s*", text)
        if match is None or not all(_NAME.match(part) for part in match.groups()):
            raise ValueError(
                f"--rename {text!r}: expected TABLE.OLD:NEW in lower-case SQL names, "
                "e.g. person.email:email_address"
            )
        rename = cls(*match.groups())
        if rename.old == rename.new:
            raise ValueError(f"--rename {text!r}: the new name is the old one")
        return rename

    @property
    def function(self) -> str:
        """The sync function's (and trigger's) name, PostgreSQL's 63-character limit kept."""
        return f"{self.table}_sync_{self.old}_{self.new}"[:63]

    @property
    def spec(self) -> str:
        """`table.old:new`, as given to `--rename`."""
        return f"{self.table}.{self.old}:{self.new}"

    @property
    def slug(self) -> str:
        return f"rename {self.table} {self.old} to {self.new}"


def _sync_function(rename: Rename) -> tuple[str, str]:
    """CREATE FUNCTION and CREATE TRIGGER: copy only the column a statement really changed."""
    t, old, new = rename.table, rename.old, rename.new
    return (
        f"CREATE OR REPLACE FUNCTION {rename.function}()\n"
        "RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF TG_OP = 'INSERT' THEN\n"
        f"        IF NEW.{new} IS NULL THEN NEW.{new} := NEW.{old}; END IF;\n"
        f"        IF NEW.{old} IS NULL THEN NEW.{old} := NEW.{new}; END IF;\n"
        f"    ELSIF NEW.{new} IS DISTINCT FROM OLD.{new}\n"
        f"          AND NEW.{old} IS NOT DISTINCT FROM OLD.{old} THEN\n"
        f"        NEW.{old} := NEW.{new};\n"
        f"    ELSIF NEW.{old} IS DISTINCT FROM OLD.{old}\n"
        f"          AND NEW.{new} IS NOT DISTINCT FROM OLD.{new} THEN\n"
        f"        NEW.{new} := NEW.{old};\n"
        "    END IF;\n"
        "    RETURN NEW;\n"
        "END $$"
    ), (
        f"CREATE TRIGGER {rename.function} BEFORE INSERT OR UPDATE ON {t} "
        f"FOR EACH ROW EXECUTE FUNCTION {rename.function}()"
    )


def _drop_sync(rename: Rename) -> tuple[str, str]:
    return (
        f"DROP TRIGGER IF EXISTS {rename.function} ON {rename.table}",
        f"DROP FUNCTION IF EXISTS {rename.function}()",
    )


def _literal(sql: str, indent: str = "        ") -> str:
    """A SQL string as one Python literal the linter reads, in lines `ruff check` accepts.

    Triple-quoted when the SQL spans lines; a long one-line statement becomes adjacent string
    literals (one constant for `ast`), one per line.
    """
    if "\n" in sql:
        return f'"""{sql}"""'
    if len(sql) <= 70:
        return f'"{sql}"'
    chunks, line = [], ""
    for word in sql.split(" "):
        if line and len(line) + len(word) > 70:
            chunks.append(line)
            line = ""
        line += word + " "
    chunks.append(line.rstrip())
    return "\n" + "".join(f'{indent}"{chunk}"\n' for chunk in chunks) + indent[4:]


def _header(message: str, revision: str, down: str | None, depends_on: str | None, date: str) -> str:
    return (
        f'"""{message}\n\nRevision ID: {revision}\nRevises: {down}\nCreate Date: {date}\n"""\n\n'
        "from collections.abc import Sequence\n\n"
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f'revision: str = "{revision}"\n'
        f"down_revision: str | None = {_quoted(down)}\n"
        "branch_labels: str | Sequence[str] | None = None\n"
        f"depends_on: str | Sequence[str] | None = {_quoted(depends_on)}\n\n"
    )


def _quoted(value: str | None) -> str:
    return "None" if value is None else f'"{value}"'


def expand_source(
    rename: Rename, revision: str, down: str | None, column_type: str, primary_key: str, date: str
) -> str:
    """The expand revision: new column, the sync trigger, then the backfill in batches."""
    function, trigger = _sync_function(rename)
    drop_trigger, drop_function = _drop_sync(rename)
    t, old, new = rename.table, rename.old, rename.new
    backfill = (
        f"UPDATE {t} SET {new} = {old} WHERE {primary_key} IN "
        f"(SELECT {primary_key} FROM {t} WHERE {new} IS NULL AND {old} IS NOT NULL LIMIT :rows)"
    )
    return (
        _header(
            f"{rename.slug} (expand): the new column, kept in step with the old one",
            revision,
            down,
            None,
            date,
        )
        + 'phase = "expand"\n'
        f"# `orm-models revision --rename {rename.spec} --phase contract` finds this revision by it.\n"
        f'rename = "{rename.spec}"\n'
        "# Rows per backfill statement; each batch commits on its own, so its row locks last one\n"
        "# statement, not the whole migration.\n"
        f"BATCH_ROWS = {BATCH_ROWS}\n\n\n"
        "def upgrade() -> None:\n"
        "    # Re-runnable: a run stopped inside the backfill has committed the column and the trigger\n"
        "    # (and some batches); the next `orm-models migrate` goes on from there.\n"
        f'    if "{new}" not in {{c["name"] for c in sa.inspect(op.get_bind()).get_columns("{t}")}}:\n'
        f'        op.add_column("{t}", sa.Column("{new}", {column_type}, nullable=True))\n'
        "    # The trigger first: a write between the backfill and the trigger would be lost.\n"
        f"    op.execute({_literal(function)})\n"
        f"    op.execute({_literal(drop_trigger)})\n"
        f"    op.execute({_literal(trigger)})\n"
        f"    backfill = sa.text({_literal(backfill)})\n"
        "    # Commits what came before, then every statement commits by itself (autocommit).\n"
        "    with op.get_context().autocommit_block():\n"
        '        while op.get_bind().execute(backfill, {"rows": BATCH_ROWS}).rowcount:\n'
        "            pass\n\n\n"
        "def downgrade() -> None:\n"
        f"    op.execute({_literal(drop_trigger)})\n"
        f"    op.execute({_literal(drop_function)})\n"
        f'    op.drop_column("{t}", "{new}")\n'
    )


def contract_source(
    rename: Rename, revision: str, down: str | None, expand: str, column_type: str, date: str
) -> str:
    """The contract revision: the sync trigger and the old column go."""
    function, trigger = _sync_function(rename)
    drop_trigger, drop_function = _drop_sync(rename)
    t, old, new = rename.table, rename.old, rename.new
    return (
        _header(f"{rename.slug} (contract): drop the old column and its sync", revision, down, expand, date)
        + "# Drops a column clients before the rename map: runs once no live client maps it.\n"
        'phase = "contract"\n'
        f'rename = "{rename.spec}"\n'
        f'drops = ("{t}.{old}",)\n\n\n'
        "def upgrade() -> None:\n"
        f"    op.execute({_literal(drop_trigger)})\n"
        f"    op.execute({_literal(drop_function)})\n"
        f'    op.drop_column("{t}", "{old}")\n\n\n'
        "def downgrade() -> None:\n"
        f'    op.add_column("{t}", sa.Column("{old}", {column_type}, nullable=True))\n'
        f'    op.execute("UPDATE {t} SET {old} = {new}")\n'
        f"    op.execute({_literal(function)})\n"
        f"    op.execute({_literal(trigger)})\n"
    )
