"""People and the organizations they belong to."""

from sqlalchemy import ForeignKey, String, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from orm_models.base import Base, CreatedAt, IntPk, UpdatedAt


class Organization(Base):
    """An organization people belong to, keyed externally by `external_id`."""

    __tablename__ = "organization"

    id: Mapped[IntPk]
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    """Natural key from the source system; loaders upsert by it."""
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    people: Mapped[list["Person"]] = relationship(back_populates="organization")


class Person(Base):
    """A person, keyed externally by `external_id`; `id` is stable across loads."""

    __tablename__ = "person"

    id: Mapped[IntPk]
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    """Natural key from the source system; loaders upsert by it."""
    given_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    """Deprecated since 1.1.0, removed in 2.0.0: use `family_name`.

    Still written (from `family_name`) so that services on 1.0.x keep reading it."""
    family_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    organization: Mapped[Organization | None] = relationship(back_populates="people")


@event.listens_for(Person, "before_insert")
@event.listens_for(Person, "before_update")
def _dual_write_family_name(_mapper: Mapper[Person], _connection: Connection, person: Person) -> None:
    """Expand phase of the `last_name` → `family_name` rename: keep both columns equal.

    `family_name` wins when both are set; a writer that still only knows `last_name` fills
    `family_name` too, so readers of either release see the same value.
    """
    if person.family_name is not None:
        person.last_name = person.family_name
    elif person.last_name is not None:
        person.family_name = person.last_name
