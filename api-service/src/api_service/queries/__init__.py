"""Reads, one module per resource. Each function takes a session and never commits.

The list paths select columns with SQLAlchemy Core and build plain dicts: no ORM objects are
hydrated and no pydantic model is validated per row, which is most of the cost of a typical
FastAPI list endpoint. The dicts have exactly the shape of the response models in `schemas`.
"""
