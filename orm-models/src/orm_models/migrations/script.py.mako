<%!
    def quoted(value):
        """A revision id as ruff formats it: double quotes, None stays None."""
        if value is None:
            return "None"
        if isinstance(value, str):
            return '"%s"' % value
        return repr(value)

    def strings(values):
        """A tuple of strings as ruff formats it."""
        items = ", ".join('"%s"' % value for value in values)
        return "(%s)" % (items + "," if len(values) == 1 else items)
%><%
    # `orm-models revision --phase` sets these; a plain `alembic revision` gets an expand one.
    phase = config.attributes.get("orm_models.phase", "expand")
    drops = config.attributes.get("orm_models.drops", ())
%>"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
% if imports:
${imports}
% endif

revision: str = ${quoted(up_revision)}
down_revision: str | None = ${quoted(down_revision)}
branch_labels: str | Sequence[str] | None = ${quoted(branch_labels)}
depends_on: str | Sequence[str] | None = ${quoted(depends_on)}

# "expand": additive, safe for every client of the same major.
# "contract": removes or tightens; runs only once no live client needs what it removes.
phase = "${phase}"
% if phase == "contract":
# What the upgrade removes ("table.column" or "table"): `orm-models migrate --contract` refuses
# while a live client still maps any of it. Every op.drop_column/op.drop_table must be listed.
drops = ${strings(drops)}
% endif
# The migration lint (`orm-models check`) flags operations that lock or break live clients. To
# accept one, name its finding and say why it is safe here:
# unsafe_ok = {"create_index ix_person_email": "person has < 10k rows; the lock lasts ms"}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
