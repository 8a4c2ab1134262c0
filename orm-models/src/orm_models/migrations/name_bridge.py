"""The expand-phase bridge between `person.last_name` (1.x) and `person.family_name` (1.1+).

While both columns exist, a 1.0 writer sets only `last_name` and a 2.x writer only
`family_name` (and `last_name` is NOT NULL, so its insert would fail). A row trigger fills in
whichever one the writer left out, so every release on the database reads what every other
release wrote. Revision 0002a installs it; contract revision 0003 removes it before dropping
`last_name`, and its downgrade puts it back. Revision 0002b (2.2.1) bridges an empty
`last_name` (how 1.x stores a mononym) to a NULL `family_name`, and backfills the people 1.0
writers inserted between 0002 and the trigger.

A writer that sets both columns in one statement (raw SQL: 1.1's models always write them
equal) keeps both as written.

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
