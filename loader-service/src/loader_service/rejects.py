"""The rejects file: one JSON line per invalid record, so nothing is dropped silently.

Each line: `{"record": 17, "errors": [{"field": "email", "reason": "..."}], "data": {...}}` with
the record as it was read, ready to be fixed and loaded again. The file is created on the first
reject only, and kept when a run aborts (it says why).
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from loader_service.logs import event
from loader_service.mapping import FieldError

log = logging.getLogger(__name__)

SHOWN = 20
"""How many rejects are echoed to the log; the file has all of them."""


@dataclass(frozen=True)
class Reject:
    record: int
    errors: tuple[FieldError, ...]
    data: object

    def reasons(self) -> str:
        return "; ".join(f"{error.field}: {error.reason}" for error in self.errors)

    def message(self) -> str:
        return f"record {self.record}: {self.reasons()}"


@dataclass
class RejectsFile:
    """Collects rejects: counts them, keeps the first few for the log, writes all to `path`."""

    path: Path | None
    log_all: bool = False
    """Log every reject with its data (where no file survives the run: a Lambda without S3)."""
    count: int = 0
    first: list[Reject] = field(default_factory=list)
    _handle: TextIO | None = field(default=None, repr=False)

    def add(self, reject: Reject) -> None:
        self.count += 1
        line = {
            "record": reject.record,
            "errors": [{"field": e.field, "reason": e.reason} for e in reject.errors],
            "data": reject.data,
        }
        text = json.dumps(line, ensure_ascii=False, default=str)
        shown = len(self.first) < SHOWN
        if shown:
            self.first.append(reject)
        if self.log_all:
            event(log.warning, "reject", record=reject.record, reason=reject.reasons(), line=text)
        elif shown:
            event(log.warning, "reject", record=reject.record, reason=reject.reasons())
        elif self.count == SHOWN + 1:
            event(log.warning, "reject_more", logged=SHOWN, file=self.path)
        if self.path is None:
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8", errors="backslashreplace")  # lone surrogates
        self._handle.write(text + "\n")

    @property
    def written(self) -> Path | None:
        """The file, if any reject was written to it."""
        return self.path if self._handle is not None else None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
