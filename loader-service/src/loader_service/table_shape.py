"""What a table swap must rebuild, read from PostgreSQL's catalog: keys, indexes, identity, grants.

The bulk path builds a new `person` beside the live one and swaps it in. Everything attached to
the live table by its OID (constraints, indexes, the identity sequence, grants, comments,
storage options) is read here as the server itself prints it (`pg_get_constraintdef`,
`pg_get_indexdef`, `aclexplode`) and recreated under the same names, so the swapped-in table
is, to every reader, `check` and the schema guard, the table the migrations made.

What a swap cannot carry faithfully is a *blocker*: row triggers (the swap inserts rows the
merge would have updated, and a trigger may treat the two differently: the last_name bridge
does), foreign keys from other tables (their ON DELETE actions must run), views and rules
(bound to the old OID), row security, inheritance, publications, extended statistics,
column grants, other owned sequences, and a table this role does not own. Any blocker sends
the run down the merge path, which keeps them all by construction; the log says which.
"""

from dataclasses import dataclass, field

from psycopg2 import extensions as pg
from psycopg2 import sql


@dataclass(frozen=True)
class Identity:
    column: str
    kind: str
    """`ALWAYS` or `BY DEFAULT`."""
    sequence: str
    """The sequence's name (unqualified; it lives in the table's schema)."""
    options: str
    """`INCREMENT BY ... NO CYCLE`: the options to recreate it with."""
    increment: int = 1


@dataclass(frozen=True)
class TableShape:
    """The live table as a swap must reproduce it."""

    oid: int
    schema: str
    name: str
    owner: str
    columns: tuple[str, ...]
    constraints: tuple[tuple[str, str], ...]
    """(name, definition) in build order: keys and checks first, foreign keys last."""
    indexes: tuple[tuple[str, bool, str], ...]
    """(name, unique, `USING btree (email)`) of indexes that back no constraint."""
    identity: Identity | None
    grants: tuple[tuple[str, str, bool], ...]
    """(grantee, privilege, grantable) beside the owner's own."""
    sequence_grants: tuple[tuple[str, str, bool], ...]
    comment: str | None
    reloptions: tuple[str, ...]
    blockers: tuple[str, ...] = field(default=())

    def qualified(self, name: str | None = None) -> sql.Composed:
        return sql.SQL(".").join([sql.Identifier(self.schema), sql.Identifier(name or self.name)])


def read_shape(cursor: pg.cursor, table: str) -> TableShape:
    """The shape of `table` (resolved through the search path) and what would stop a swap."""
    cursor.execute(
        """
        SELECT c.oid, n.nspname, c.relname, pg_get_userbyid(c.relowner), c.relkind::text,
               c.relrowsecurity, pg_has_role(c.relowner, 'USAGE'), obj_description(c.oid, 'pg_class'),
               coalesce(c.reloptions, '{}'), c.relpersistence::text, c.relreplident::text
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.oid = %s::regclass
        """,
        (table,),
    )
    row = cursor.fetchone()
    assert row is not None  # ::regclass raised if the table were missing
    oid, schema, name, owner, kind, row_security, owned, comment, reloptions, persistence, replica = row
    blockers = _blockers(cursor, oid)
    if kind != "r" or persistence != "p":
        blockers.append("it is not a plain, logged table")
    if row_security:
        blockers.append("it has row-level security")
    if replica != "d":
        blockers.append("its replica identity is not the default")
    if not owned:
        blockers.append("this role does not own it (a swap replaces the table)")

    cursor.execute(
        # Generated columns compute themselves in the next table too (LIKE ... INCLUDING GENERATED).
        "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped"
        " AND attgenerated = '' ORDER BY attnum",
        (oid,),
    )
    columns = tuple(row[0] for row in cursor.fetchall())
    # Keys, uniques, exclusions and checks before foreign keys: a foreign key is validated
    # against the rows, best once the table's own indexes exist.
    cursor.execute(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s AND contype <> 'n'
        ORDER BY contype = 'f', contype <> 'p', conname
        """,
        (oid,),
    )
    constraints = tuple((str(n), str(d)) for n, d in cursor.fetchall())
    indexes = _indexes(cursor, oid, blockers)
    identity, sequence_oid = _identity(cursor, oid)
    if identity is None or identity.column != "id":
        blockers.append("its id column is not an identity column")
    grants = _grants(cursor, oid)
    sequence_grants = _grants(cursor, sequence_oid) if sequence_oid is not None else ()
    return TableShape(
        oid=oid,
        schema=schema,
        name=name,
        owner=owner,
        columns=columns,
        constraints=constraints,
        indexes=indexes,
        identity=identity,
        grants=grants,
        sequence_grants=sequence_grants,
        comment=comment,
        reloptions=tuple(reloptions),
        blockers=tuple(blockers),
    )


def _blockers(cursor: pg.cursor, oid: int) -> list[str]:
    """Reasons a swap could not carry this table faithfully (empty: it can)."""
    checks = {
        "trigger(s) {}: the merge fires them on each write, a swap would not": """
            SELECT string_agg(tgname, ', ' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = %(oid)s AND NOT tgisinternal""",
        "foreign key(s) {} from other tables point at it (their ON DELETE actions must run)": """
            SELECT string_agg(conrelid::regclass || '.' || conname, ', ' ORDER BY conname) FROM pg_constraint
            WHERE confrelid = %(oid)s AND conrelid <> %(oid)s AND contype = 'f'""",
        "view(s) or rule(s) {} depend on it": """
            SELECT string_agg(DISTINCT r.ev_class::regclass::text, ', ') FROM pg_depend AS d
            JOIN pg_rewrite AS r ON r.oid = d.objid
            WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = %(oid)s""",
        "it has row security policies ({})": """
            SELECT string_agg(polname, ', ') FROM pg_policy WHERE polrelid = %(oid)s""",
        "it takes part in inheritance or partitioning ({})": """
            SELECT string_agg(inhrelid::regclass || ' < ' || inhparent::regclass, ', ') FROM pg_inherits
            WHERE inhrelid = %(oid)s OR inhparent = %(oid)s""",
        "it is published ({})": """
            SELECT string_agg(p.pubname, ', ') FROM pg_publication_rel AS r
            JOIN pg_publication AS p ON p.oid = r.prpubid WHERE r.prrelid = %(oid)s""",
        "it has extended statistics ({})": """
            SELECT string_agg(stxname, ', ') FROM pg_statistic_ext WHERE stxrelid = %(oid)s""",
        "column(s) {} have their own grants": """
            SELECT string_agg(attname, ', ') FROM pg_attribute
            WHERE attrelid = %(oid)s AND attacl IS NOT NULL AND NOT attisdropped""",
        "sequence(s) {} belong to its columns besides the identity": """
            SELECT string_agg(d.objid::regclass::text, ', ') FROM pg_depend AS d
            WHERE d.classid = 'pg_class'::regclass AND d.refobjid = %(oid)s AND d.deptype = 'a'
              AND d.refclassid = 'pg_class'::regclass
              AND d.objid IN (SELECT oid FROM pg_class WHERE relkind = 'S')""",
        "index or constraint comment(s) on {}": """
            SELECT string_agg(d.objoid::text, ', ') FROM pg_description AS d
            WHERE (d.classoid = 'pg_constraint'::regclass
                   AND d.objoid IN (SELECT oid FROM pg_constraint WHERE conrelid = %(oid)s))
               OR (d.classoid = 'pg_class'::regclass
                   AND d.objoid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %(oid)s))""",
    }
    found = []
    for reason, query in checks.items():
        cursor.execute(query, {"oid": oid})
        row = cursor.fetchone()
        if row and row[0]:
            found.append(reason.format(row[0]))
    return found


def _indexes(cursor: pg.cursor, oid: int, blockers: list[str]) -> tuple[tuple[str, bool, str], ...]:
    """Standalone indexes as (name, unique, the definition after `ON <table>`)."""
    cursor.execute(
        """
        SELECT i.relname, x.indisunique, pg_get_indexdef(x.indexrelid),
               format('INDEX %%I ON %%s ', i.relname, x.indrelid::regclass),
               format('INDEX %%I ON %%I.%%I ', i.relname, n.nspname, t.relname)
        FROM pg_index AS x
        JOIN pg_class AS i ON i.oid = x.indexrelid
        JOIN pg_class AS t ON t.oid = x.indrelid
        JOIN pg_namespace AS n ON n.oid = t.relnamespace
        WHERE x.indrelid = %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k
                          WHERE k.conindid = x.indexrelid AND k.conrelid = %s)
        ORDER BY i.relname
        """,
        (oid, oid),
    )
    found = []
    for name, unique, definition, *heads in cursor.fetchall():
        prefix = "CREATE UNIQUE " if unique else "CREATE "
        body = next(
            (definition[len(prefix + head) :] for head in heads if definition.startswith(prefix + head)), None
        )
        if body is None:  # pragma: no cover - pg_get_indexdef prints one of the two forms
            blockers.append(f"index {name} has a definition this loader cannot re-target: {definition}")
            continue
        found.append((str(name), bool(unique), str(body)))
    return tuple(found)


def _identity(cursor: pg.cursor, oid: int) -> tuple[Identity | None, int | None]:
    cursor.execute(
        """
        SELECT a.attname, a.attidentity::text, s.relname, s.oid,
               q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache, q.seqcycle
        FROM pg_attribute AS a
        JOIN pg_depend AS d ON d.refobjid = a.attrelid AND d.refobjsubid = a.attnum
             AND d.classid = 'pg_class'::regclass AND d.deptype = 'i'
        JOIN pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_sequence AS q ON q.seqrelid = s.oid
        WHERE a.attrelid = %s AND a.attidentity <> ''
        """,
        (oid,),
    )
    row = cursor.fetchone()
    if row is None:
        return None, None
    column, kind, sequence, sequence_oid, increment, minimum, maximum, start, cache, cycle = row
    options = (
        f"INCREMENT BY {int(increment)} MINVALUE {int(minimum)} MAXVALUE {int(maximum)} "
        f"START WITH {int(start)} CACHE {int(cache)} {'CYCLE' if cycle else 'NO CYCLE'}"
    )
    generated = "ALWAYS" if kind == "a" else "BY DEFAULT"
    return Identity(column, generated, sequence, options, int(increment)), sequence_oid


def _grants(cursor: pg.cursor, oid: int) -> tuple[tuple[str, str, bool], ...]:
    """Privileges granted on `oid` to others than its owner (NULL acl: the defaults, nothing granted)."""
    cursor.execute(
        """
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               a.privilege_type, a.is_grantable
        FROM pg_class AS c, aclexplode(c.relacl) AS a
        WHERE c.oid = %s AND a.grantee <> c.relowner
        ORDER BY 1, 2
        """,
        (oid,),
    )
    return tuple((str(g), str(p), bool(w)) for g, p, w in cursor.fetchall())
