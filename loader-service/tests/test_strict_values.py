"""Strict values: what a careful exporter never writes is a per-record reject with its reason,
never a guess and never a traceback (ids at or past 2**53 as floats, a key given twice, NaN,
numbers too long to parse, nesting too deep), and e-mail addresses are what email-validator's
syntax rules accept."""

import json
import random
import string
from pathlib import Path

import pytest
from conftest import fingerprint, people, person_rows, write_jsonl
from email_validator import EmailNotValidError, validate_email
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from loader_service.config import Settings
from loader_service.emails import plain
from loader_service.errors import RejectBudgetError
from loader_service.mapping import FIELDS, describe, validate_row
from loader_service.run import RunOptions, run_load

GOOD = '"givenName": "Ada", "familyName": "L", "email": "ada@example.com", "org": "o-1", "orgName": "O"'

# (what the line holds, a piece of the reject's reason)
HOSTILE_LINES = {
    "float id at 2**53 + 1": (
        '{"id": 9007199254740993.0, ' + GOOD + "}",
        "got the number 9007199254740992.0",
    ),
    "float id at 2**53": ('{"id": 9007199254740992.0, ' + GOOD + "}", "got the number 9007199254740992.0"),
    "float id past 2**53": ('{"id": 1e300, ' + GOOD + "}", "got the number 1e+300"),
    "id twice": ('{"id": "p-00001", ' + GOOD + ', "id": "p-99999"}', "has the key 'id' more than once"),
    "nested key twice": (
        '{"id": "p-00001", ' + GOOD + ', "x": {"a": 1, "a": 2}}',
        "has the key 'a' more than once",
    ),
    "NaN id": ('{"id": NaN, ' + GOOD + "}", "has NaN, which is not a JSON number"),
    "Infinity name": (
        '{"id": "p-00001", "givenName": -Infinity}',
        "has -Infinity, which is not a JSON number",
    ),
    "5001-digit id": (
        '{"id": ' + "9" * 5001 + ", " + GOOD + "}",
        "a number of 5,001 characters (at most 64)",
    ),
    "5001-digit float": ('{"id": 1.' + "0" * 5001 + ", " + GOOD + "}", "a number of 5,003 characters"),
    "deep nesting": (
        '{"id": ' + "[" * 100_000 + "]" * 100_000 + ", " + GOOD + "}",
        "nests arrays or objects more than 32 deep",
    ),
    "deep nesting unclosed": (
        '{"id": "p-00001", "x": ' + "{" * 50_000,
        "nests arrays or objects more than 32 deep",
    ),
    "brackets in strings are no nesting": (
        '{"id": 12.5, "givenName": "' + "[" * 100 + '"}',
        "got the number 12.5",
    ),
    "html as email": (
        '{"id": "p-00001", "givenName": "A", "email": "<img src=x onerror=alert(1)>@evil.example"}',
        "email: is not an email address",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_LINES))
def test_a_hostile_jsonl_record_is_a_reject_with_its_reason(
    settings: Settings, migrated_engine: Engine, tmp_path: Path, case: str
) -> None:
    run_load(settings, RunOptions(str(write_jsonl(tmp_path / "before.jsonl", person_rows(3)))))
    before = fingerprint(migrated_engine)
    line, reason = HOSTILE_LINES[case]
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join([json.dumps(row) for row in person_rows(3)[1:]] + [line]) + "\n")

    with pytest.raises(RejectBudgetError) as aborted:
        run_load(settings, RunOptions(str(source), rejects=tmp_path / "r.jsonl"))

    assert reason in str(aborted.value), str(aborted.value)[:300]
    assert "record 3" in str(aborted.value)
    assert "\n" not in str(aborted.value)
    assert fingerprint(migrated_engine) == before
    [reject] = (json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines())
    assert reject["record"] == 3


def test_the_last_exact_float_id_is_still_an_integer_and_2_53_is_not(settings: Settings) -> None:
    assert validate_row((9007199254740991.0, "Ada", None, None, None, None))[0] == "9007199254740991"
    assert (
        validate_row((9007199254740993, "Ada", None, None, None, None))[0] == "9007199254740993"
    )  # exact int
    with pytest.raises(ValidationError):
        validate_row((-9007199254740992.0, "Ada", None, None, None, None))


def test_a_record_with_its_key_twice_keeps_the_existing_person_within_the_budget(
    settings: Settings, migrated_engine: Engine, tmp_path: Path
) -> None:
    run_load(settings, RunOptions(str(write_jsonl(tmp_path / "before.jsonl", person_rows(3)))))
    stored = people(migrated_engine)["p-00001"]
    lines = [json.dumps(row) for row in person_rows(3, variant="-new")]
    lines[1] = lines[1][:-1] + ', "id": "p-00002"}'  # p-00001 named twice: neither key is trusted
    source = tmp_path / "twice.jsonl"
    source.write_text("\n".join(lines) + "\n")

    summary = run_load(settings, RunOptions(str(source), max_errors=1, rejects=tmp_path / "r.jsonl"))

    assert (summary.rejected, summary.deleted) == (1, 0)
    assert people(migrated_engine)["p-00001"] == stored


EMAILS_REFUSED = [
    "<img src=x onerror=alert(1)>@evil.example",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@example",
    "a@localhost",
    "a@b.local",
    "a@b.test",
    "a@-example.com",
    "a@example-.com",
    "a@ex_ample.com",
    "two words@example.com",
    "a@b@example.com",
    '"quoted"@example.com',
    "a@[127.0.0.1]",
    "a@" + "b" * 64 + ".com",
    "a@xn--zz.com",
]
EMAILS_ACCEPTED = [
    "ada@example.com",
    "Ada.Lovelace+tag@Example.CO.UK",
    "ü@exämple.com",
    "o'brien@example.ie",
    "",
]


@pytest.mark.parametrize("address", EMAILS_REFUSED)
def test_an_email_address_the_library_refuses_is_refused(address: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_row(("p-1", "Ada", None, address, None, None))
    [error] = describe(raised.value.errors())
    assert (error.field, error.reason.split(":")[0]) == ("email", "is not an email address")


@pytest.mark.parametrize("address", EMAILS_ACCEPTED)
def test_an_email_address_the_library_accepts_is_kept_as_given(address: str) -> None:
    assert validate_row(("p-1", "Ada", None, address, None, None))[3] == address


def test_the_fast_pre_check_only_accepts_what_the_library_accepts() -> None:
    """Random addresses near the pre-check's edges: whatever it accepts, email-validator accepts."""
    generator = random.Random(19)
    alphabet = string.ascii_letters + string.digits + "._+-@" + "!#$%&'*/=?^`{|}~"
    accepted = 0
    for _ in range(20_000):
        local = "".join(generator.choices(alphabet, k=generator.randint(1, 12)))
        labels = [
            "".join(generator.choices(string.ascii_letters + string.digits + "-_", k=generator.randint(1, 8)))
        ]
        labels += [generator.choice(["com", "co", "io", "local", "test", "x1", "org", "arpa", "c"])]
        address = f"{local}@{'.'.join(labels)}"
        if not plain(address):
            continue
        accepted += 1
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as error:
            pytest.fail(f"the pre-check accepted {address!r}, the library did not: {error}")
    assert accepted > 1000  # the pre-check was exercised, not just refused everything


def _addresses(seed: int, count: int) -> list[str]:
    """Random addresses near the pre-checks' edges (dots, hyphens, special-use and short TLDs)."""
    generator = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "._+-@" + "!#$%&'*/=?^`{|}~"
    tlds = ["com", "co", "io", "local", "test", "x1", "org", "arpa", "c", "TEST", "tests", "onion", "info"]
    found = []
    for _ in range(count):
        local = "".join(generator.choices(alphabet, k=generator.randint(1, 12)))
        labels = [
            "".join(generator.choices(string.ascii_letters + string.digits + "-_", k=generator.randint(1, 8)))
        ]
        labels += [generator.choice(tlds)]
        found.append(f"{local}@{'.'.join(labels)}")
    return found


def test_the_fast_validators_email_pattern_only_accepts_what_the_library_accepts() -> None:
    """The pattern pydantic-core checks without calling Python: a subset of the library, and not empty."""
    email = next(spec for spec in FIELDS if spec.fast_pattern is not None)
    fast = TypeAdapter(email.fast().annotation())
    accepted = 0
    for address in [*_addresses(20, 20_000), *EMAILS_REFUSED, *EMAILS_ACCEPTED]:
        try:
            kept = fast.validate_python(address)
        except ValidationError:
            continue  # the full validator decides
        assert kept == address
        if not address:
            continue
        accepted += 1
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as error:
            pytest.fail(f"the fast pattern accepted {address!r}, the library did not: {error}")
    assert accepted > 1000  # common addresses take the fast way


@pytest.mark.parametrize(
    "address", ["barbara.lamport0@example.com", "Ada.Lovelace+tag@Example.CO.UK", "a-b@my-host.info"]
)
def test_a_common_address_passes_the_fast_pattern(address: str) -> None:
    email = next(spec for spec in FIELDS if spec.fast_pattern is not None)
    assert TypeAdapter(email.fast().annotation()).validate_python(address) == address
