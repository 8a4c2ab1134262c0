"""Who may talk to the index: generated local credentials, TWINE_* variables or a .pypirc section."""

from __future__ import annotations

import configparser
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tools.release import ReleaseError

DEFAULT_USER = "publisher"
PYPIRC_REPOSITORY = "private"


@dataclass(frozen=True)
class Credentials:
    """A username and password; the password never appears in a repr or a log line."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Target:
    """Where to upload and where to read what is already there."""

    upload_url: str
    simple_url: str
    credentials: Credentials
    pypirc: Path | None = None
    """Set when the target came from a .pypirc: twine then gets `--repository private` from it."""


def simple_url_for(upload_url: str) -> str:
    """The simple-API URL of an upload URL: `<upload>/simple/` (pypiserver, CodeArtifact).

    Indexes laid out differently (devpi's `+simple/`) set ORM_INDEX_SIMPLE_URL.
    """
    return os.environ.get("ORM_INDEX_SIMPLE_URL") or upload_url.rstrip("/") + "/simple/"


DEFAULT_READER = "reader"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def index_url() -> str:
    """The private index's base URL: one setting, ORM_INDEX_URL, moves it for every command.

    ORM_INDEX_PORT alone keeps working for the local server (`http://127.0.0.1:<port>/`).
    """
    url = os.environ.get("ORM_INDEX_URL")
    if url:
        return url.rstrip("/") + "/"
    return f"http://{DEFAULT_HOST}:{os.environ.get('ORM_INDEX_PORT') or DEFAULT_PORT}/"


@dataclass(frozen=True)
class LocalCredentials:
    """The local index's two users: one that uploads (release) and one that only reads (installs)."""

    upload: Credentials
    read: Credentials


def _write_local(path: Path, local: LocalCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".new")
    scratch.unlink(missing_ok=True)
    # Created 0600 before anything is written, so the secret is never readable by others.
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(
            "# Local credentials of the private index (`nox -s index`). Git-ignored; never commit.\n"
            "# ORM_INDEX_* uploads (release, publish); ORM_INDEX_READ_* and UV_INDEX_PRIVATE_* only read\n"
            "# (installs, lock, compat): the index refuses an upload by the read user.\n"
            "# Use in a shell: set -a && . .index/credentials && set +a\n"
            f"ORM_INDEX_USERNAME={local.upload.username}\n"
            f"ORM_INDEX_PASSWORD={local.upload.password}\n"
            f"ORM_INDEX_READ_USERNAME={local.read.username}\n"
            f"ORM_INDEX_READ_PASSWORD={local.read.password}\n"
            f"UV_INDEX_PRIVATE_USERNAME={local.read.username}\n"
            f"UV_INDEX_PRIVATE_PASSWORD={local.read.password}\n"
        )
    scratch.replace(path)


def load_or_create_local(path: Path) -> LocalCredentials:
    """Read the local index's credentials from `path`, generating what is missing (mode 0600).

    A file from before the read user existed gains one; its upload user is kept.
    """
    if not path.exists():
        local = LocalCredentials(
            Credentials(DEFAULT_USER, secrets.token_urlsafe(24)),
            Credentials(DEFAULT_READER, secrets.token_urlsafe(24)),
        )
        _write_local(path, local)
        return local
    values = read_env_file(path)
    try:
        upload = Credentials(values["ORM_INDEX_USERNAME"], values["ORM_INDEX_PASSWORD"])
    except KeyError as missing:
        raise ReleaseError(f"{path} lacks {missing}; delete it to generate new credentials") from None
    if "ORM_INDEX_READ_USERNAME" in values and "ORM_INDEX_READ_PASSWORD" in values:
        read = Credentials(values["ORM_INDEX_READ_USERNAME"], values["ORM_INDEX_READ_PASSWORD"])
        return LocalCredentials(upload, read)
    local = LocalCredentials(upload, Credentials(DEFAULT_READER, secrets.token_urlsafe(24)))
    _write_local(path, local)
    return local


def load_or_create(path: Path) -> Credentials:
    """The upload credential of the local index (see `load_or_create_local`)."""
    return load_or_create_local(path).upload


def read_credentials(root: Path) -> Credentials | None:
    """What installs and listings use: UV_INDEX_PRIVATE_*, else the local read user, else None."""
    user, password = os.environ.get("UV_INDEX_PRIVATE_USERNAME"), os.environ.get("UV_INDEX_PRIVATE_PASSWORD")
    if user and password:
        return Credentials(user, password)
    local = root / ".index" / "credentials"
    if local.exists():
        return load_or_create_local(local).read
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines; comments and blank lines ignored."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def upload_target(root: Path, default_url: str) -> Target:
    """Resolve the upload target: TWINE_* variables, then a `[private]` .pypirc, then `.index/`.

    Raises ReleaseError naming every place looked at when none of them holds credentials, so a
    missing secret is never papered over by an anonymous upload.
    """
    env_user, env_password = os.environ.get("TWINE_USERNAME"), os.environ.get("TWINE_PASSWORD")
    if env_user and env_password:
        url = os.environ.get("TWINE_REPOSITORY_URL") or default_url
        return Target(url, simple_url_for(url), Credentials(env_user, env_password))
    for pypirc in (root / ".pypirc", Path.home() / ".pypirc"):
        target = _from_pypirc(pypirc)
        if target is not None:
            return target
    local = root / ".index" / "credentials"
    if local.exists():
        url = os.environ.get("TWINE_REPOSITORY_URL") or default_url
        return Target(url, simple_url_for(url), load_or_create(local))
    raise ReleaseError(
        "no credentials for the index: set TWINE_USERNAME and TWINE_PASSWORD (and "
        "TWINE_REPOSITORY_URL), or add a [private] section to .pypirc (see .pypirc.example), "
        "or start the local index with `nox -s index`, which generates .index/credentials"
    )


def _from_pypirc(path: Path) -> Target | None:
    if not path.is_file():
        return None
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    if not parser.has_section(PYPIRC_REPOSITORY):
        return None
    section = parser[PYPIRC_REPOSITORY]
    url, user, password = section.get("repository"), section.get("username"), section.get("password")
    if not (url and user and password) or password.startswith("<"):
        raise ReleaseError(f"{path}: section [{PYPIRC_REPOSITORY}] needs repository, username and password")
    return Target(url, simple_url_for(url), Credentials(user, password), pypirc=path)
