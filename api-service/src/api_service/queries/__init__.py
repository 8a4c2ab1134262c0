"""Reads, one module per resource. Each function takes a session and never commits.

The JSON of each record is rendered by PostgreSQL (`row_to_json` over the selected columns) and
returned as text beside its id, which keyset pagination needs. Python then only joins strings:
no ORM object is hydrated, no timestamp is parsed into a datetime and formatted back, no
pydantic model is validated per row. Measured on a page of 50 people, that cut the CPU of the
query step by about a quarter (≈ 330 to 250 µs) over Core rows turned into dicts and dumped
with orjson; see `benchmarks/run.py` for the whole service. The shape of the
documents is the one declared by the response models in `schemas`, which the tests enforce.
"""
