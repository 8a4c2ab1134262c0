"""Bodies shared by every route."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every response model: tests validate real responses against these, so a key the
    routes send but the schema lacks (a drift between the fast path and the docs) fails them."""

    model_config = ConfigDict(extra="forbid")


class ErrorMessage(Strict):
    """Body of every error but 422: `{"detail": "..."}`, the shape of FastAPI's own 404."""

    detail: str
