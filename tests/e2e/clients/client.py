"""A small service on whichever orm-models its venv installed from the index (1.0.0 .. 2.x).

    python client.py start SERVICE INSTANCE          # start-up guard, then register
    python client.py write SERVICE PREFIX N          # insert N people through its own models
    python client.py read                            # every person as its models see them (JSON)
    python client.py writers SEED OPS POOL           # random concurrent writes, audited per write
    python client.py loop STOPFILE                   # write, then read back, one person at a time
                                                     # until STOPFILE exists; never registers

Exit 4 when the start-up guard refuses (one line on stderr). Released wheels before 2.3.0 ship
no `register_client`: this client registers with the one statement README's runbook gives.
"""

import json
import os
import random
import sys
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import orm_models
from orm_models import Base, Person

VERSION = orm_models.__version__
HAS_LAST = "last_name" in Person.__table__.c
HAS_FAMILY = "family_name" in Person.__table__.c
WRITES = ["person.external_id", "person.given_name"] + [
    f"person.{c}" for c in ("last_name", "family_name") if c in Person.__table__.c
]

REGISTER_SQL = """
INSERT INTO schema_client (service, instance, orm_models_version, maps, writes)
VALUES (:service, :instance, :version, :maps, :writes)
ON CONFLICT (service, instance) DO UPDATE SET orm_models_version = EXCLUDED.orm_models_version,
    maps = EXCLUDED.maps, writes = EXCLUDED.writes, last_seen_at = now()
"""


def _engine() -> sa.Engine:
    return sa.create_engine(os.environ["DATABASE_URL"])


def _mapped() -> list[str]:
    return sorted(f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns)


def _guard(engine: sa.Engine) -> str | None:
    if hasattr(orm_models, "check_schema"):
        with engine.connect() as connection:
            try:
                orm_models.check_schema(connection, written=WRITES)
            except orm_models.SchemaGuardError as error:
                return str(error)
        return None
    # Before 2.3 the library has no guard: the same check by reflection, as the services do.
    inspector = sa.inspect(engine)
    missing = []
    for table in Base.metadata.sorted_tables:
        present = (
            {c["name"] for c in inspector.get_columns(table.name)}
            if inspector.has_table(table.name)
            else set()
        )
        missing += [f"{table.name}.{c.name}" for c in table.columns if c.name not in present]
    if missing:
        return (
            f"database lacks {', '.join(missing)}, mapped by orm-models {VERSION}: "
            "move this service to orm-models>=2 (the contract has run)"
        )
    return None


def start(service: str, instance: str) -> int:
    engine = _engine()
    problem = _guard(engine)
    if problem:
        print(f"{service}: refusing to start: {problem}", file=sys.stderr)
        return 4
    if hasattr(orm_models, "register_client"):
        orm_models.register_client(engine, service=service, instance=instance, written=WRITES)
    else:
        with engine.begin() as connection:
            connection.execute(
                sa.text(REGISTER_SQL),
                {
                    "service": service,
                    "instance": instance,
                    "version": VERSION,
                    "maps": _mapped(),
                    "writes": WRITES,
                },
            )
    print(f"{service}: started on orm-models {VERSION}, registered as {instance}")
    return 0


def _person(external_id: str, given: str, family: str | None) -> Person:
    values: dict[str, object] = {"external_id": external_id, "given_name": given}
    if HAS_FAMILY:
        values["family_name"] = family
    if (HAS_LAST and not HAS_FAMILY) or HAS_LAST:  # 1.0.0: a mononym is ''
        values["last_name"] = family or ""
    return Person(**values)


def write(service: str, prefix: str, count: int) -> int:
    with Session(_engine()) as session:
        for number in range(count):
            family = None if number % 4 == 0 else f"{prefix.title()}{number}"
            session.add(_person(f"{prefix}-{number}", f"Given{number}", family))
        session.commit()
    print(f"{service}: wrote {count} people")
    return 0


def read() -> int:
    with Session(_engine()) as session:
        people = session.scalars(sa.select(Person).order_by(Person.external_id)).all()
        rows = {
            p.external_id: {
                "given": p.given_name,
                "family": _family(p),
                "last_name": getattr(p, "last_name", None),
            }
            for p in people
        }
    print(json.dumps(rows))
    return 0


def _audit(session: Session, external_id: str, field: str, value: str | None, seed: int) -> None:
    session.execute(
        sa.text("INSERT INTO write_audit (external_id, field, value, writer) VALUES (:e, :f, :v, :w)"),
        {"e": external_id, "f": field, "v": value, "w": f"{VERSION}#{seed}"},
    )


def _family(person: Any) -> str | None:
    """The family name as this release's models read it (a mononym is None)."""
    if HAS_FAMILY:
        return person.family_name or None
    return person.last_name or None


def _rename(person: Any, family: str | None) -> None:
    """What this release's code does to change a family name (None: make a mononym)."""
    if not HAS_FAMILY:  # 1.0.0
        person.last_name = family or ""
    elif HAS_LAST:  # 1.1.0: family_name wins in its hook; a mononym also clears last_name
        person.family_name = family
        person.last_name = family or ""
    else:
        person.family_name = family


def writers(seed: int, ops: int, pool: int) -> int:
    rng = random.Random(seed)
    engine = _engine()
    done = 0
    for number in range(ops):
        with Session(engine) as session:
            kind = rng.choice(["rename", "rename", "mononym", "given", "given", "insert"])
            if kind == "insert":
                external_id = f"w{seed}-{number}"
                family = None if rng.random() < 0.3 else f"Ins{seed}x{number}"
                session.add(_person(external_id, f"G{seed}x{number}", family))
                session.flush()
                _audit(session, external_id, "family", family, seed)
                _audit(session, external_id, "given", f"G{seed}x{number}", seed)
                session.commit()
                done += 1
                continue
            external_id = f"pool-{rng.randrange(pool)}"
            person: Any = session.scalars(sa.select(Person).where(Person.external_id == external_id)).one()
            session.commit()  # the row is now a stale copy: others may change it before we write
            time.sleep(rng.random() * 0.004)
            if kind == "given":
                given = f"Given{seed}x{number}"
                person.given_name = given
                session.flush()
                _audit(session, external_id, "given", given, seed)
            else:
                value = None if kind == "mononym" else f"Fam{seed}x{number}"
                read_as = _family(person)
                _rename(person, value)
                session.flush()
                if value != read_as:  # setting what it read is no write (the ORM sends no name)
                    _audit(session, external_id, "family", value, seed)
            session.commit()
            done += 1
    print(json.dumps({"writer": f"{VERSION}#{seed}", "writes": done}))
    return 0


def loop(stop: str) -> int:
    """A service nobody touched: it writes and reads back through its own models, one pooled
    session, until told to stop; it never registers. Exit 1 at the first write it cannot read back."""
    engine = _engine()
    done = 0
    while not os.path.exists(stop):
        external_id = f"loop-{os.getpid()}-{done}"
        family = f"Loop{done}"
        with Session(engine) as session:
            session.add(_person(external_id, f"Given{done}", family))
            session.commit()
            person = session.scalars(sa.select(Person).where(Person.external_id == external_id)).one()
            if _family(person) != family or getattr(person, "last_name", family) != family:
                print(f"wrote {family!r}, read back {_family(person)!r}", file=sys.stderr)
                return 1
        done += 1
    print(json.dumps({"writer": VERSION, "writes": done}))
    return 0


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "start":
        return start(args[0], args[1])
    if command == "write":
        return write(args[0], args[1], int(args[2]))
    if command == "read":
        return read()
    if command == "writers":
        return writers(int(args[0]), int(args[1]), int(args[2]))
    if command == "loop":
        return loop(args[0])
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
