"""The expand-phase bridge between `person.last_name` (1.x) and `person.family_name` (1.1+).

While both columns exist, a 1.0 writer sets only `last_name` and a 2.x writer only
`family_name` (and `last_name` is NOT NULL, so its insert would fail). A row trigger fills in
whichever one the writer left out, so every release on the database reads what every other
release wrote. Revision 0002a installs it; contract revision 0003 removes it before dropping
`last_name`, and its downgrade puts it back.

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
