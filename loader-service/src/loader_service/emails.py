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

# A label: letters/digits, inner hyphens (never `--`, which IDNA reserves), at most 63.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?!-)){0,61}(?<!-)"
_PLAIN = re.compile(
    r"(?=[^@]{1,64}@)[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"  # local part: dot-atom, no `..`
    rf"@(?:{_LABEL}\.)+(?P<tld>[A-Za-z]{{2,63}})"
)
# Names email-validator refuses as special-use (its SPECIAL_USE_DOMAIN_NAMES): never fast-tracked.
_SPECIAL = {"arpa", "invalid", "local", "localhost", "onion", "test"}


def plain(address: str) -> bool:
    """Whether the pre-check alone accepts `address` (the library would too)."""
    match = _PLAIN.fullmatch(address)
    return match is not None and len(address) <= 254 and match["tld"].lower() not in _SPECIAL


def email_address(value: str | None) -> str | None:
    """Pydantic validator: `value` if it is an e-mail address, else a `PydanticCustomError` saying why."""
    if not value or plain(value):  # empty: no address (NULL), as for every optional field
        return value
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise PydanticCustomError(
            "email", "is not an email address: {reason}", {"reason": str(error)}
        ) from None
    return value
