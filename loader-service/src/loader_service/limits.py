"""`--max-delete`: how many people one sync may delete, as a share of the table or a count.

The default, 20 %, is there because a scheduled sync's normal churn is a few percent, while a
source that lost most of its rows (an export cut short, a filter gone wrong upstream, the wrong
file) would otherwise delete most of the table and report success.
"""

import math
import re
from dataclasses import dataclass

from loader_service.errors import MassDeleteError

DEFAULT_MAX_DELETE = "20%"
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class DeleteLimit:
    amount: float
    percent: bool

    @classmethod
    def parse(cls, text: str | int) -> "DeleteLimit":
        """`20%`, `12.5 %` (of the people there before the run) or `500` (people); ValueError otherwise."""
        if isinstance(text, bool):
            raise ValueError("a percentage such as 20% or a count such as 500")
        match = _FORM.match(str(text))
        if match is None:
            raise ValueError(f"{text!r} is not a percentage such as 20% or a count such as 500")
        amount, percent = float(match[1]), bool(match[2])
        if percent and amount > 100:
            raise ValueError(f"{text!r}: a percentage is at most 100%")
        if not percent and not amount.is_integer():
            raise ValueError(f"{text!r}: a count of people is a whole number")
        return cls(amount, percent)

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.percent else f"{self.amount:g}"

    def check(self, deleted: int, total: int) -> None:
        """Raise `MassDeleteError` when deleting `deleted` of the `total` people there is over the limit."""
        share = 100 * deleted / total if total else 0.0
        if self.percent:
            if share <= self.amount:
                return
            limit, needed = f"{self.amount:g} %", f"{min(100, math.ceil(share))}%"
        else:
            if deleted <= self.amount:
                return
            limit, needed = f"{self.amount:g} people", str(deleted)
        raise MassDeleteError(
            f"would delete {deleted} of {total} people ({share:.1f} %), limit {limit}; "
            f"pass --max-delete {needed} to allow (LOADER_MAX_DELETE, or max_delete in a Lambda event); "
            "nothing was changed"
        )


def normalise(value: object) -> str:
    """Pydantic validator: the limit's canonical text; raises ValueError for anything else."""
    if not isinstance(value, str | int):
        raise ValueError("a percentage such as 20% or a count such as 500")
    return str(DeleteLimit.parse(value))
