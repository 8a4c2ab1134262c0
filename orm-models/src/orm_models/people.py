"""People and the organizations they belong to."""

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    family_name: Mapped[str | None] = mapped_column(String(100))
    """Replaced `last_name` (1.1.0 added it, 2.0.0 removed `last_name`); None for mononyms."""
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    organization: Mapped[Organization | None] = relationship(back_populates="people")
