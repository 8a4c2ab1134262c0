"""The expand-phase bridge between `person.last_name` (1.x) and `person.family_name` (1.1+).

While both columns exist, a 1.0 writer sets only `last_name` and a 2.x writer only
`family_name` (and `last_name` is NOT NULL, so its insert would fail). A row trigger fills in
whichever one the writer left out, so every release on the database reads what every other
release wrote. Revision 0002a installs it; contract revision 0003 removes it before dropping
`last_name`, and its downgrade puts it back. Revision 0002b (2.2.1) bridges an empty
`last_name` (how 1.x stores a mononym) to a NULL `family_name`, and backfills the people 1.0
writers inserted between 0002 and the trigger.

Up to 2.2.1 a writer that set both columns in one statement kept both as written; from 2.3.0
(revision 0002c, `BRIDGE_FUNCTION_2_3`) family_name wins, and only the column a statement really
changed is propagated, so a stale one-column write never undoes another client's rename.

Released revisions import these statements: never edit them, write a new revision instead.
"""

FUNCTION = "person_bridge_last_name"
TRIGGER = "person_bridge_last_name"

CREATE_STATEMENTS = (
    f"""
    CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.last_name IS NULL THEN          -- a 2.x writer: no last_name
                NEW.last_name := coalesce(NEW.family_name, '');
            ELSIF NEW.family_name IS NULL THEN     -- a 1.0 writer: no family_name
                NEW.family_name := NEW.last_name;
            END IF;
        ELSIF NEW.family_name IS DISTINCT FROM OLD.family_name
              AND NEW.last_name IS NOT DISTINCT FROM OLD.last_name THEN
            NEW.last_name := coalesce(NEW.family_name, '');
        ELSIF NEW.last_name IS DISTINCT FROM OLD.last_name
              AND NEW.family_name IS NOT DISTINCT FROM OLD.family_name THEN
            NEW.family_name := NEW.last_name;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    f"""
    CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE ON person
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
    """,
)

DROP_STATEMENTS = (
    f"DROP TRIGGER IF EXISTS {TRIGGER} ON person",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
)

# 2.2.1 (revision 0002b): the same function, except that an empty last_name bridges to NULL.
_EMPTY_IS_NULL = ("NEW.family_name := NEW.last_name;", "NEW.family_name := nullif(NEW.last_name, '');")
REPLACE_FUNCTION = (
    CREATE_STATEMENTS[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(*_EMPTY_IS_NULL)
)
RESTORE_FUNCTION = CREATE_STATEMENTS[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
"""The 2.2.0 function, for 0002b's downgrade."""

BACKFILL = "UPDATE person SET family_name = last_name WHERE family_name IS NULL AND last_name <> ''"
"""People 1.0 writers inserted after 0002's own backfill ran and before the trigger existed."""

# 2.3.0 (revision 0002c): the bridge as it stands from then on. Compared with 0002b's:
# - `''` in family_name is never stored: a mononym is NULL there (and `''` in last_name).
# - A family_name of `''` written alone (last_name untouched) is 1.1.0's dual-write hook
#   mirroring a mononym it read as `last_name = ''` (its models turn a NULL family_name into
#   `''` on every flush). It is not a rename: when the row meanwhile got a name from another
#   client, that name stays. A 2.x client makes someone a mononym by writing NULL.
# - When one statement changes both columns to different names, family_name wins (as in
#   1.1.0's own hook), so every row stays consistent: last_name = coalesce(family_name, '').
# - 1.1.0 code that changes only `last_name` on a person whose `family_name` is set never
#   reaches the database: 1.1.0's hook overwrites last_name from family_name before the flush.
BRIDGE_FUNCTION_2_3 = f"""
    CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        new_family text := nullif(NEW.family_name, '');
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF new_family IS NULL AND NEW.last_name IS NOT NULL THEN  -- 1.0, or a 1.x mononym
                new_family := nullif(NEW.last_name, '');
            END IF;
        ELSIF NEW.last_name IS DISTINCT FROM OLD.last_name
              AND new_family IS NOT DISTINCT FROM nullif(OLD.family_name, '') THEN
            new_family := nullif(NEW.last_name, '');              -- a 1.0 rename
        ELSIF NEW.last_name IS NOT DISTINCT FROM OLD.last_name
              AND NEW.family_name = '' AND OLD.last_name <> '' THEN
            new_family := nullif(OLD.family_name, '');            -- 1.1.0's stale mirror: no change
        END IF;
        NEW.family_name := new_family;
        NEW.last_name := coalesce(new_family, '');
        RETURN NEW;
    END
    $$
    """
"""The bridge function from 2.3.0 on (0002c), replacing 0002b's."""

NORMALISE_STATEMENTS = (
    # A name only last_name holds (1.0 writes before any bridge, lost 1.1.0 renames' leftovers).
    "UPDATE person SET family_name = last_name WHERE coalesce(family_name, '') = '' AND last_name <> ''",
    # Mononyms: NULL in family_name, '' in last_name, however they were written.
    "UPDATE person SET family_name = NULL WHERE family_name = ''",
    "UPDATE person SET last_name = coalesce(family_name, '') WHERE last_name <> coalesce(family_name, '')",
)
"""0002c's backfill, run after BRIDGE_FUNCTION_2_3 is in place: every row consistent."""
