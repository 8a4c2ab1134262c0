"""E-mail addresses: the syntax rules of `email-validator` (RFC 5321/5322, IDNA), never DNS.

The library decides. It costs ~20 µs an address, so a pre-check that only ever accepts a
subset of what the library accepts (plain ASCII dot-atoms on a public-looking domain, checked
against the library by `tests/test_emails.py`) answers the common case at regex speed; every
other address goes to the library. The value is kept as the source gave it (not normalised), so
a re-sync of an unchanged source changes nothing.
"""

import re

from email_validator import EmailNotValidError, validate_email
from pydantic_core import PydanticCustomError

# One regex, so the common case costs one C-level match: at most 254 characters, no `--` (IDNA's
# `xn--` labels go to the library), a local part of at most 64 common characters as a dot-atom,
# labels of letters, digits and inner hyphens, and a top-level domain of letters that is not one
# of the special-use names email-validator refuses (its SPECIAL_USE_DOMAIN_NAMES).
_PLAIN = re.compile(
    r"(?=.{1,254}\Z)(?!.*--)(?=[^@]{1,64}@)"
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?!(?i:arpa|invalid|local|localhost|onion|test)\Z)[A-Za-z]{2,63}",
    re.DOTALL,
)
_plain = _PLAIN.fullmatch


def plain(address: str) -> bool:
    """Whether the pre-check alone accepts `address` (the library would too)."""
    return _plain(address) is not None


def email_address(value: str | None) -> str | None:
    """Pydantic validator: `value` if it is an e-mail address, else a `PydanticCustomError` saying why."""
    if not value or _plain(value):  # empty: no address (NULL), as for every optional field
        return value
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise PydanticCustomError(
            "email", "is not an email address: {reason}", {"reason": str(error)}
        ) from None
    return value
