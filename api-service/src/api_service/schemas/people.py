"""People and organizations as the web app sees them."""

from datetime import datetime

from pydantic import Field

from api_service.schemas.common import Strict


class OrganizationSummary(Strict):
    """The organization a person belongs to, embedded so a list of people needs no second call."""

    id: int
    name: str


class Person(Strict):
    id: int
    external_id: str = Field(description="Key of the person in the source system.")
    given_name: str
    family_name: str | None = Field(description="None for people with a single name.")
    email: str | None
    organization: OrganizationSummary | None = Field(
        description="The person's organization; its full record is at /organizations/{id}."
    )
    created_at: datetime
    updated_at: datetime


class Organization(Strict):
    id: int
    external_id: str = Field(description="Key of the organization in the source system.")
    name: str
    created_at: datetime
    updated_at: datetime


_NEXT_CURSOR = "Pass as `cursor` to get the next page; null on the last page."
_NEXT = "This request's URL (filters and limit kept) for the next page; null on the last page."


class PersonPage(Strict):
    items: list[Person]
    next_cursor: str | None = Field(description=_NEXT_CURSOR)
    next: str | None = Field(description=_NEXT)


class OrganizationPage(Strict):
    items: list[Organization]
    next_cursor: str | None = Field(description=_NEXT_CURSOR)
    next: str | None = Field(description=_NEXT)
