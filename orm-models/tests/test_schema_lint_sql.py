"""Migration lint of SQL however the upgrade sends it: `op.execute`, or on the migration's connection."""

from typing import Any

import pytest
from schema_helpers import lint_upgrade

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
    return lint_upgrade(body.format(sql=literal), phase, extra.format(sql=literal))


@pytest.mark.parametrize("send", _SENDS)
@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("UPDATE person SET email = lower(email)", "execute UPDATE person"),
        ("DELETE FROM person WHERE email IS NULL", "execute DELETE person"),
        ("CREATE INDEX ix_person_email ON person (email)", "execute CREATE INDEX ix_person_email"),
        ("ALTER TABLE person DROP COLUMN email", "drop_column person.email"),
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
    result = lint_upgrade(body, extra=extra)
    assert [f.key for f in result.unsafe] == ["execute <computed SQL>"]


def test_reads_and_inserts_lock_no_row() -> None:
    body = (
        "    bind = op.get_bind()\n"
        "    rows = bind.execute(sa.select(person.c.id).where(person.c.email.is_(None))).all()\n"
        "    bind.execute(person.insert().values(email='x'))\n"
        '    bind.execute(sa.text("SELECT count(*) FROM person"))'
    )
    assert lint_upgrade(body).findings == []


def test_a_bind_that_is_not_the_migrations_is_not_linted() -> None:
    """Only the migration's own connection: a `.execute` on anything else sends no SQL here."""
    body = '    cursor = open_report()\n    cursor.execute("UPDATE person SET email = NULL")'
    assert lint_upgrade(body).findings == []


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("ALTER TABLE person DROP COLUMN IF EXISTS email", "drop_column person.email"),
        ('ALTER TABLE ONLY public."person" DROP email', "drop_column person.email"),
        ("DROP TABLE IF EXISTS organization", "drop_table organization"),
        ("ALTER TABLE person RENAME COLUMN email TO mail", "alter_column person.email"),
        ("ALTER TABLE person RENAME TO people", "rename_table person"),
        ("ALTER TABLE person ALTER COLUMN email SET NOT NULL", "alter_column person.email"),
        ("ALTER TABLE person ALTER email SET DATA TYPE text", "alter_column person.email"),
        ("DROP INDEX ix_person_email", "execute DROP INDEX ix_person_email"),
    ],
)
def test_ddl_written_as_sql_is_judged_as_its_operation(sql: str, key: str) -> None:
    """As `op.drop_column(...)`, `op.alter_column(...)` etc. are: the key is the same operation's."""
    assert [f.key for f in _lint("op.get_bind().execute", sql).unsafe] == [key]


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE person DROP CONSTRAINT ck_person_email",
        "DROP TRIGGER IF EXISTS person_sync ON person",
        "DROP FUNCTION IF EXISTS person_sync()",
        "DROP INDEX CONCURRENTLY ix_person_email",
        "ALTER TABLE person ALTER COLUMN email DROP NOT NULL",
        "ALTER TABLE person RENAME CONSTRAINT ck_a TO ck_b",
        "ALTER TABLE person ADD COLUMN nick text",
    ],
)
def test_ddl_that_removes_and_locks_nothing_passes(sql: str) -> None:
    assert _lint("op.execute", sql).unsafe == []


def test_a_raw_drop_in_a_contract_must_be_listed_in_drops() -> None:
    body = '    op.execute("ALTER TABLE person DROP COLUMN email")'
    unlisted = lint_upgrade(body, "contract")
    assert [f.key for f in unlisted.unsafe] == ["drop_column person.email"]
    assert "drops" in unlisted.unsafe[0].problem
    listed = lint_upgrade(body, "contract", 'drops = ("person.email",)')
    assert listed.unsafe == []
    assert ("person", "email") in listed.touches


def test_a_raw_set_not_null_after_not_valid_and_validate_passes() -> None:
    body = (
        '    op.execute("ALTER TABLE person ADD CONSTRAINT ck_email CHECK (email IS NOT NULL) NOT VALID")\n'
        '    op.execute("ALTER TABLE person VALIDATE CONSTRAINT ck_email")\n'
        '    op.get_bind().execute(sa.text("ALTER TABLE person ALTER COLUMN email SET NOT NULL"))'
    )
    assert lint_upgrade(body).unsafe == []


def _alter(existing: str, new: str, extra: str = "") -> Any:
    body = f'    op.alter_column("person", "given_name", existing_type={existing}, type_={new}{extra})'
    return lint_upgrade(body)


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ("sa.String(100)", "sa.String(200)"),  # what autogenerate writes for String(100) -> String(200)
        ("sa.VARCHAR(length=100)", "sa.String(length=100)"),
        ("sa.String(100)", "sa.String()"),
        ("sa.String(100)", "sa.Text()"),
        ("sa.Text()", "sa.String()"),
        ("postgresql.VARCHAR(length=100)", "sa.UnicodeText()"),
        ("sa.Numeric(10, 2)", "sa.Numeric(precision=12, scale=2)"),
        ("sa.NUMERIC(precision=10, scale=2)", "sa.Numeric()"),
    ],
)
def test_a_metadata_only_type_change_passes(existing: str, new: str) -> None:
    """PostgreSQL changes only its catalog for these: no row is rewritten or scanned."""
    assert _alter(existing, new).findings == []


@pytest.mark.parametrize(
    ("existing", "new", "extra"),
    [
        ("sa.String(200)", "sa.String(100)", ""),  # narrowing: every row is checked
        ("sa.Text()", "sa.String(100)", ""),
        ("sa.String()", "sa.String(100)", ""),
        ("sa.Integer()", "sa.BigInteger()", ""),  # a wider integer rewrites the table
        ("sa.String(100)", "sa.Integer()", ""),
        ("sa.Numeric(10, 2)", "sa.Numeric(12, 3)", ""),  # another scale rewrites every value
        ("sa.Numeric()", "sa.Numeric(12, 2)", ""),
        ("sa.String(100)", "sa.String(200)", ', postgresql_using="upper(given_name)"'),
        ("sa.String(100)", "sa.String(200, collation='C')", ""),  # unread: the lint cannot judge it
        ("sa.String(100)", "sa.String(LENGTH)", ""),
        ("OLD_TYPE", "sa.String(200)", ""),
    ],
)
def test_a_type_change_that_rewrites_or_cannot_be_read_is_flagged(
    existing: str, new: str, extra: str
) -> None:
    [finding] = _alter(existing, new, extra).unsafe
    assert (finding.key, finding.problem) == ("alter_column person.given_name", _TYPE_PROBLEM)


_TYPE_PROBLEM = "a type change may rewrite the table under an exclusive lock"


def test_a_type_change_without_its_old_type_is_flagged() -> None:
    """Raw SQL names only the new type, as `alter_column` without `existing_type` does."""
    for body in (
        '    op.alter_column("person", "given_name", type_=sa.String(200))',
        '    op.execute("ALTER TABLE person ALTER COLUMN given_name TYPE varchar(200)")',
    ):
        result = lint_upgrade(body)
        assert [(f.key, f.problem) for f in result.unsafe] == [
            ("alter_column person.given_name", _TYPE_PROBLEM)
        ]


@pytest.mark.parametrize("send", ["op.execute", "op.get_bind().execute", "module-level constant"])
@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE organization ADD CONSTRAINT uq_org_code UNIQUE USING INDEX uq_org_code",
        'ALTER TABLE organization ADD CONSTRAINT "pk_organization" PRIMARY KEY USING INDEX ix_org_id',
        "ALTER TABLE organization ADD CONSTRAINT ck_code CHECK (length(code) < 20) NOT VALID",
        "ALTER TABLE organization ADD FOREIGN KEY (parent_id) REFERENCES organization (id) NOT VALID",
    ],
)
def test_the_lints_own_constraint_routes_pass(send: str, sql: str) -> None:
    """UNIQUE and PRIMARY KEY over an index built CONCURRENTLY; CHECK and FOREIGN KEY NOT VALID."""
    assert _lint(send, sql).findings == []


@pytest.mark.parametrize(
    ("sql", "key", "route"),
    [
        (
            "ALTER TABLE organization ADD CONSTRAINT uq_organization_code UNIQUE (code)",
            "execute ADD CONSTRAINT uq_organization_code",
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX",
        ),
        (
            "ALTER TABLE ONLY public.organization ADD PRIMARY KEY (id)",
            "execute ADD CONSTRAINT",
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
        ),
        (
            "ALTER TABLE organization ADD CONSTRAINT ck_organization_code_len CHECK (length(code) < 20)",
            "execute ADD CONSTRAINT ck_organization_code_len",
            "ADD CONSTRAINT ... CHECK ... NOT VALID, then VALIDATE CONSTRAINT",
        ),
        (
            "ALTER TABLE organization ADD CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES person",
            "execute ADD CONSTRAINT fk_parent",
            "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT",
        ),
        (
            "ALTER TABLE person ADD CONSTRAINT xc_person_email EXCLUDE USING btree (email WITH =)",
            "execute ADD CONSTRAINT xc_person_email",
            "PostgreSQL has no online route for EXCLUDE",
        ),
    ],
)
def test_a_raw_constraint_gets_the_route_its_kind_has(sql: str, key: str, route: str) -> None:
    [finding] = _lint("op.execute", sql).unsafe
    assert finding.key == key
    assert finding.route.startswith(route)
    if "UNIQUE" in sql or "PRIMARY" in sql or "EXCLUDE" in sql:
        assert "NOT VALID" not in finding.route.replace("no NOT VALID", "")  # it has no NOT VALID


def test_raw_sql_findings_are_keyed_by_the_object_so_one_reason_accepts_one_statement() -> None:
    body = (
        '    op.execute("ALTER TABLE organization ADD CONSTRAINT ck_organization_code_len '
        'CHECK (length(code) < 20)")\n'
        '    op.execute("ALTER TABLE organization ADD CONSTRAINT uq_organization_code UNIQUE (code), '
        "ADD CONSTRAINT ck_organization_name CHECK (name <> '') NOT VALID\")\n"
        '    op.execute("CREATE INDEX ix_a ON person (a); CREATE INDEX ix_b ON person (b)")'
    )

    def unsafe(accepts: str) -> list[str]:
        extra = f"unsafe_ok = {{{accepts}}}"
        return [f.key for f in lint_upgrade(body, extra=extra).unsafe]

    every = [
        "execute ADD CONSTRAINT ck_organization_code_len",
        "execute ADD CONSTRAINT uq_organization_code",
        "execute CREATE INDEX ix_a",
    ]
    assert unsafe("") == every
    assert unsafe('"execute ADD CONSTRAINT ck_organization_code_len": "tiny table"') == every[1:]
    # The key from before objects were named accepts nothing while it could mean either statement.
    assert unsafe('"execute ADD CONSTRAINT": "tiny table"') == every


def test_the_key_without_the_name_still_accepts_the_only_statement_it_can_mean() -> None:
    body = '    op.execute("CREATE INDEX ix_person_email ON person (email)")'
    extra = 'unsafe_ok = {"execute CREATE INDEX": "person is empty when this runs"}'
    [finding] = lint_upgrade(body, extra=extra).findings
    assert (finding.key, finding.accepted) == (
        "execute CREATE INDEX ix_person_email",
        "person is empty when this runs",
    )
