"""Synthetic sources of any size, for benchmarks and load tests (`loader-service generate`).

Deterministic for a given seed, written streaming (constant memory), CSV or JSON Lines, gzip
when the output ends in `.gz`. `--variant` changes every person's family name, so two files of
the same size and seed differ in every row but keep the same keys (a "full update" load).
"""

import csv
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

GIVEN = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Katherine",
    "Tim",
    "Hedy",
    "Claude",
    "Sophie",
    "Niklaus",
    "Leslie",
    "Shafi",
]
FAMILY = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Ritchie",
    "Allen",
    "Backus",
    "Perlman",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "Shannon",
    "Wilson",
    "Wirth",
    "Lamport",
    "Goldwasser",
]
HEADER = ["id", "givenName", "familyName", "email", "org", "orgName"]


_PROGRESS_EVERY = 10_000


def generate(
    output: Path,
    rows: int,
    *,
    seed: int = 1,
    organizations: int = 1000,
    variant: str = "",
    start: int = 0,
    on_progress: Callable[[int], None] = lambda written: None,
) -> None:
    """Write `rows` people (ids `p-<start>`...) to `output`; the format follows its suffix.

    `on_progress(records written)` is called every 10,000 records and at the end.
    """
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    jsonl = output.name.removesuffix(".gz").endswith((".jsonl", ".ndjson"))
    with _open(output) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if not jsonl:
            writer.writerow(HEADER)
        for number in range(start, start + rows):
            given, family = rng.choice(GIVEN), rng.choice(FAMILY) + variant
            org = rng.randrange(organizations)
            row = [
                f"p-{number:08d}",
                given,
                family,
                f"{given.lower()}.{family.lower()}{number}@example.com",
                f"org-{org:04d}",
                f"Organization {org}",
            ]
            if jsonl:
                handle.write(json.dumps(dict(zip(HEADER, row, strict=True))) + "\n")
            else:
                writer.writerow(row)
            if (number - start + 1) % _PROGRESS_EVERY == 0:
                on_progress(number - start + 1)
        on_progress(rows)


def _open(output: Path) -> TextIO:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".gz":
        return gzip.open(output, "wt", encoding="utf-8", newline="", compresslevel=1)
    return output.open("w", encoding="utf-8", newline="")
