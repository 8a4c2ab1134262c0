"""Secrets out of printed text, whoever wrote it (our messages, httpx's, botocore's, libpq's).

Three layers, because no single one sees every secret:
- URL userinfo and query strings are cut from any URL in the text (pre-signed URLs carry
  tokens in the query; a password may hold an unencoded `@`, so userinfo runs to the last `@`);
- credential-bearing headers and fields in debug dumps (`Authorization`, `X-Amz-Security-Token`,
  `password=`...) lose their values;
- every secret the loader was given (the database password, the source URL's userinfo and
  query values, the AWS secret key and session token) is remembered when it is read and masked
  wherever it turns up, even in text that is not a well-formed URL any more.
"""

import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

_URL_SCHEMES = ("http", "https", "s3", "file")
MASK = "***"
# Any URL in free text: scheme://[userinfo@]rest[?query]. The userinfo is greedy up to the last
# `@` before a path, query, fragment or blank: `user:p@ss@host` loses `user:p@ss@` whole.
_URL_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#]*@)?([^\s?#'\"]*)(\?[^\s#'\"]*)?")
# Header or field names whose value is a credential, as botocore/urllib3/httpx debug lines print
# them (`'Authorization': b'AWS4-HMAC-SHA256 Credential=..., Signature=...'`, `password=...`).
_CREDENTIAL_FIELD = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-amz-security-token|x-amz-signature|x-amz-credential|signature"
    r"|security-token|session[-_]token|secret[-_]access[-_]key|cookie|set-cookie|password|passwd|token)"
    r"""(['"]?\s*[:=]\s*b?['"]?)((?:(?:Bearer|Basic|AWS4-HMAC-SHA256)\s+)?[^'",\s}&]+)"""
)
_MIN_SECRET = 4
"""Shorter values are not masked: masking `ab` everywhere would garble every line."""
_MIN_PIECE = 6
"""A piece of a password split at `@`, `/` or `:` is masked from this length on."""
_SECRET_NAME = re.compile(r"(?i)sig|token|key|secret|pass|pwd|cred|auth|session")
"""Query parameter names whose values are credentials."""
_remembered: set[str] = set()
_pattern: re.Pattern[str] | None = None


def remember(*values: str | None) -> None:
    """Mask `values` (and their percent-encoded forms) in every text scrubbed from now on."""
    global _pattern
    added = False
    for value in values:
        if not value or len(value) < _MIN_SECRET:
            continue
        for form in {value, quote(value, safe=""), quote_plus(value), unquote(value)}:
            if len(form) >= _MIN_SECRET and form not in _remembered:
                _remembered.add(form)
                added = True
    if added:
        ordered = sorted(_remembered, key=len, reverse=True)  # longest first: no partial masks
        _pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def remember_url(url: str) -> None:
    """Remember the secrets of `url`, however badly formed: its password, its secret query values.

    A user name is no secret (it stays printable); query values are remembered when their name
    says they are credentials (`sig`, `X-Amz-Signature`, `token`, `api_key`, `password`, ...):
    every query string is cut from printed URLs anyway, and masking `require` of `sslmode=require`
    everywhere would garble every line.
    """
    rest = url.split("://", 1)[1] if "://" in url else url
    before_query = re.split(r"[?#]", rest, maxsplit=1)[0]
    if "@" in before_query:
        # Up to the last `@` of everything before the query: a password may hold `@` or `/`.
        userinfo = before_query.rsplit("@", 1)[0]
        _user, colon, password = userinfo.partition(":")
        if colon:
            remember(userinfo, password)
            # A parser that split at the first `@` shows the password's pieces: mask the long ones.
            remember(*(piece for piece in re.split(r"[@/:?#]", password) if len(piece) >= _MIN_PIECE))
    if "?" in rest:
        query = rest.split("?", 1)[1].split("#", 1)[0]
        pairs = parse_qsl(query, keep_blank_values=True)
        remember(*(value for name, value in pairs if _SECRET_NAME.search(name)))


def is_url(location: str) -> bool:
    return "://" in location and urlsplit(location).scheme.lower() in _URL_SCHEMES


def redact(location: str) -> str:
    """The location as it may be printed: no credentials, no query (pre-signed URLs carry tokens)."""
    if "://" not in location:
        return scrub(location)
    try:
        parts = urlsplit(location)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a port that is no number, a bracket left open: show no authority at all
        return f"{location.split('://', 1)[0]}://…"
    return scrub(f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else ""))


def scrub(text: str) -> str:
    """`text` without URL userinfo and query strings, credential header values, remembered secrets."""
    text = _URL_IN_TEXT.sub(lambda m: f"{m[1]}{m[3]}" + ("?…" if m[4] else ""), text)
    text = _CREDENTIAL_FIELD.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    if _pattern is not None:
        text = _pattern.sub(MASK, text)
    return text
