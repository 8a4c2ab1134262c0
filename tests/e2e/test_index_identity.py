"""What `orm-models==V` and each service's range install never changes, whatever the upload
credential sends: every other spelling of the name, archive type, tag or build number and local
version of a held release is refused by the index, judged by the file's parsed identity.

Variants are made from the real built wheel and sdist of the highest 2.x release (renamed, or
their metadata rewritten). Each goes up with twine's upload command and the upload credential;
where twine itself refuses to send a file, with a raw authenticated POST (curl, the credential in a
netrc): twine 6 sends only `.whl`, `.tar.gz` and `.zip`, so `.tar.bz2`, `.tar.xz`, `.tgz`, `.ZIP`,
`.TAR.GZ`, `.egg` and `.WHL` go up raw. The server must refuse what a hostile client sends, not
only what twine is willing to. One index for the module; pip (isolated config) and uv check the result.
"""

from __future__ import annotations

import base64
import bz2
import hashlib
import io
import lzma
import os
import re
import shutil
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.e2e.conftest import PUBLISHED
from tests.e2e.helpers import HIGHEST_2X, ROOT, Result, isolated_env, new_venv, run, uv_bin, write_netrc_entry
from tools.release import ReleaseError
from tools.release.credentials import Credentials, Target
from tools.release.index import IndexServer
from tools.release.publish import publish
from tools.release.simple import published_files

UPLOADER = Credentials("publisher", "upload-secret-7d21")
READER = Credentials("reader", "read-secret-c3b8")
V = HIGHEST_2X
NEW = str(Version(max(PUBLISHED, key=Version)).release[0] + 1) + ".0.0"
"""A version nobody published: a local or mislabelled file must not bring it into existence."""


@dataclass(frozen=True)
class Sent:
    """How a variant went up (twine, or a raw POST where twine refused to send it) and the answer."""

    how: str
    output: str
    refused: bool


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- Variants, made from the real files -------------------------------------------------------


def _rewrite_wheel(wheel: Path, dest: Path, version: str) -> Path:
    """`wheel` with its metadata, dist-info directory and RECORD saying `version` (a consistent file)."""
    old = f"orm_models-{V}.dist-info/"
    new = f"orm_models-{version}.dist-info/"
    records = []
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            name = info.filename.replace(old, new)
            data = source.read(info)
            if name == new + "RECORD":
                continue
            if name == new + "METADATA":
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {version}".encode(), data, count=1)
            out.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}")
        out.writestr(new + "RECORD", "\n".join([*records, f"{new}RECORD,,"]) + "\n")
    return dest


def _sdist_members(sdist: Path, version: str, tweak: bool = False) -> list[tuple[str, bytes]]:
    """The sdist's files, its top directory and PKG-INFO saying `version` (`tweak`: one module changed)."""
    members = []
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            data = extracted.read()
            _, _, rest = member.name.partition("/")
            if rest == "PKG-INFO":
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {version}".encode(), data, count=1)
            if tweak and rest.endswith("__about__.py"):
                data += b"# rebuilt with a change\n"
            members.append((f"orm_models-{version}/{rest}", data))
    return members


def _write_sdist(members: list[tuple[str, bytes]], dest: Path, fmt: str) -> Path:
    """A tar (`gz`, `bz2`, `xz`) or a zip of `members`."""
    if fmt == "zip":
        with zipfile.ZipFile(dest, "w") as out:
            for name, data in members:
                out.writestr(name, data)
        return dest
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    compress: dict[str, Callable[[bytes], bytes]] = {
        "gz": lambda b: __import__("gzip").compress(b, mtime=0),
        "bz2": bz2.compress,
        "xz": lzma.compress,
    }
    dest.write_bytes(compress[fmt](raw))
    return dest


Make = Callable[[Path, Path, Path], Path]
"""(real wheel, real sdist, scratch dir) -> the variant file."""


def _renamed(source: str, name: str) -> Make:
    def make(wheel: Path, sdist: Path, work: Path) -> Path:
        return Path(shutil.copyfile(wheel if source == "wheel" else sdist, work / name))

    return make


def _wheel_as(version: str, name: str) -> Make:
    return lambda wheel, sdist, work: _rewrite_wheel(wheel, work / name, version)


def _sdist_as(version: str, name: str, fmt: str = "gz", tweak: bool = False) -> Make:
    return lambda wheel, sdist, work: _write_sdist(_sdist_members(sdist, version, tweak), work / name, fmt)


WHL = "py3-none-any.whl"
VARIANTS: dict[str, tuple[Make, str]] = {
    # Other spellings of the project name (PEP 503 normalises them all to orm-models).
    "wheel orm__models": (_renamed("wheel", f"orm__models-{V}-{WHL}"), "not a valid distribution file name"),
    "wheel ORM_Models": (_renamed("wheel", f"ORM_Models-{V}-{WHL}"), "must be spelt orm_models"),
    "wheel orm.models": (_renamed("wheel", f"orm.models-{V}-{WHL}"), "must be spelt orm_models"),
    "wheel orm-models": (_renamed("wheel", f"orm-models-{V}-{WHL}"), "not a valid distribution file name"),
    "sdist orm__models": (_renamed("sdist", f"orm__models-{V}.tar.gz"), "must be spelt orm_models"),
    "sdist ORM-Models": (_renamed("sdist", f"ORM-Models-{V}.tar.gz"), "must be spelt orm_models"),
    "sdist orm.models": (_renamed("sdist", f"orm.models-{V}.tar.gz"), "must be spelt orm_models"),
    "sdist orm-models": (_renamed("sdist", f"orm-models-{V}.tar.gz"), "must be spelt orm_models"),
    # Other archive types, real archives of the release's files.
    ".tar.bz2": (_sdist_as(V, f"orm_models-{V}.tar.bz2", "bz2"), "only wheels (.whl) and sdists"),
    ".tar.xz": (_sdist_as(V, f"orm_models-{V}.tar.xz", "xz"), "only wheels (.whl) and sdists"),
    ".tgz": (_renamed("sdist", f"orm_models-{V}.tgz"), "only wheels (.whl) and sdists"),
    ".zip": (_sdist_as(V, f"orm_models-{V}.zip", "zip"), "only wheels (.whl) and sdists"),
    ".ZIP": (_sdist_as(V, f"orm_models-{V}.ZIP", "zip"), "only wheels (.whl) and sdists"),
    ".TAR.GZ": (_renamed("sdist", f"orm_models-{V}.TAR.GZ"), "only wheels (.whl) and sdists"),
    ".egg": (_renamed("wheel", f"orm_models-{V}-py3.11.egg"), "only wheels (.whl) and sdists"),
    ".WHL": (_renamed("wheel", f"orm_models-{V}-py3-none-any.WHL"), "only wheels (.whl) and sdists"),
    # Tags and build numbers: another wheel of the held version, which installers may prefer.
    "build tag 1": (_renamed("wheel", f"orm_models-{V}-1-{WHL}"), "a build tag"),
    "build tag 0": (_renamed("wheel", f"orm_models-{V}-0-{WHL}"), "a build tag"),
    "py2.py3 tag": (_renamed("wheel", f"orm_models-{V}-py2.py3-none-any.whl"), "already published"),
    "cp311 tag": (
        _renamed("wheel", f"orm_models-{V}-cp311-cp311-manylinux_2_17_x86_64.whl"),
        "already published",
    ),
    # Local versions: `==V` matches them (PEP 440), and so do the ranges.
    "local wheel": (_wheel_as(f"{V}+local", f"orm_models-{V}+local-{WHL}"), "local versions (+local)"),
    "local sdist": (_sdist_as(f"{V}+local", f"orm_models-{V}+local.tar.gz"), "local versions (+local)"),
    "local new wheel": (_wheel_as(f"{NEW}+local", f"orm_models-{NEW}+local-{WHL}"), "local versions"),
    "local name only": (_renamed("wheel", f"orm_models-{V}+1-{WHL}"), "local versions (+1)"),
    # The name says one thing, the metadata another.
    "name says NEW": (_renamed("wheel", f"orm_models-{NEW}-{WHL}"), f"its name says orm-models {NEW}"),
    "sdist says NEW": (_renamed("sdist", f"orm_models-{NEW}.tar.gz"), f"its name says orm-models {NEW}"),
    "other project": (_renamed("wheel", f"orm_modelz-{V}-{WHL}"), "its metadata says orm-models"),
    "version spelt 2.x": (_wheel_as(f"{V}.0", f"orm_models-{V}.0-{WHL}"), "already published"),
}


def _service_ranges() -> dict[str, str]:
    """Each service's orm-models range, as its pyproject declares it today."""
    ranges = {}
    for service in ("loader-service", "api-service"):
        project = tomllib.loads((ROOT / service / "pyproject.toml").read_text())["project"]
        found = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "orm-models"]
        ranges[service] = str(found[0].specifier)
    return ranges


# --- The index and the uploads ------------------------------------------------------------------


@pytest.fixture(scope="module")
def index(
    tmp_path_factory: pytest.TempPathFactory, dists: dict[str, list[Path]], hostile_index: IndexServer
) -> Iterator[IndexServer]:
    """Every version in PUBLISHED, uploaded with plain twine (each wheel then its sdist)."""
    work = tmp_path_factory.mktemp("identity")
    with IndexServer(
        packages=work / "packages", credentials=UPLOADER, reader=READER, htpasswd=work / "htpasswd",
        fallback_url=hostile_index.simple_url, log=work / "index.log",
    ) as server:  # fmt: skip
        result = _twine(server, UPLOADER, [f for files in dists.values() for f in files])
        assert result.returncode == 0, result.output
        yield server


def _twine(server: IndexServer, user: Credentials, files: list[Path]) -> Result:
    """Plain `twine upload` in a process of its own (credentials in its environment, as CI passes them)."""
    command = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    env = isolated_env(TWINE_USERNAME=user.username, TWINE_PASSWORD=user.password)
    return run([*command, "--repository-url", server.url, *map(str, files)], env=env)


def _twine_in_process(server: IndexServer, file: Path) -> tuple[str, str] | None:
    """twine's own upload command, called in this process (one import for ~30 uploads, not one
    interpreter each): (status, body) of the index's answer, or None when twine will not send it."""
    from requests import HTTPError
    from twine.commands.upload import upload
    from twine.exceptions import TwineException
    from twine.settings import Settings

    settings = Settings(
        username=UPLOADER.username, password=UPLOADER.password, repository_url=server.url,
        non_interactive=True, disable_progress_bar=True, config_file=os.devnull,
    )  # fmt: skip
    try:
        upload(settings, [str(file)])
    except HTTPError as error:
        answer = error.response
        return (str(answer.status_code), answer.text) if answer is not None else ("no response", "")
    except (TwineException, ValueError):
        return None  # twine refused to send it (an archive type or a file name it does not know)
    return "200", ""


def _netrc(user: Credentials, where: Path) -> Path:
    netrc = where / f"netrc-{user.username}"
    netrc.write_text(write_netrc_entry(user))
    netrc.chmod(0o600)
    return netrc


def _raw_post(server: IndexServer, user: Credentials | None, file: Path, work: Path) -> tuple[str, str]:
    """A raw `file_upload` POST (curl; the credential in a netrc, never on its command line)."""
    auth = ["--netrc-file", str(_netrc(user, work))] if user is not None else []
    form = [":action=file_upload", "name=orm-models", f"version={V}", f"content=@{file};filename={file.name}"]
    result = run(
        [
            "curl",
            "-sS",
            *auth,
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            *(a for f in form for a in ("-F", f)),
            server.url,
        ]
    )
    body, _, status = result.output.rpartition("\n")
    return status.strip(), body


def _send(server: IndexServer, file: Path, work: Path) -> Sent:
    """twine first; where twine will not send the file at all, a raw POST with the same credential."""
    answer = _twine_in_process(server, file)
    how = "twine"
    if answer is None:
        answer, how = _raw_post(server, UPLOADER, file, work), "raw POST"
    status, body = answer
    return Sent(how, f"{status} {' '.join(body.split())}", not status.startswith("2"))


@pytest.fixture(scope="module")
def attacked(
    index: IndexServer, dists: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Sent], dict[str, str | None], dict[str, str | None]]:
    """Every variant sent once: (what each got, the listing before, the listing after)."""
    work = tmp_path_factory.mktemp("variants")
    wheel, sdist = dists[V]
    before = published_files(index.simple_url, "orm-models", READER)
    sent = {}
    for number, (label, (make, _)) in enumerate(VARIANTS.items()):
        folder = work / str(number)
        folder.mkdir()
        sent[label] = _send(index, make(wheel, sdist, folder), folder)
    return sent, before, published_files(index.simple_url, "orm-models", READER)


@pytest.mark.parametrize("label", VARIANTS)
def test_each_variant_of_a_held_release_is_refused(
    label: str,
    attacked: tuple[dict[str, Sent], dict[str, str | None], dict[str, str | None]],
    index: IndexServer,
) -> None:
    sent = attacked[0][label]
    assert sent.refused, f"{label} was stored ({sent.how}): {sent.output}"
    assert VARIANTS[label][1] in sent.output, f"{label} ({sent.how}): {sent.output}"
    stored = {path.name for path in index.packages.iterdir()}
    assert all(f"-{NEW}" not in name for name in stored), stored


def test_the_listing_is_unchanged(
    attacked: tuple[dict[str, Sent], dict[str, str | None], dict[str, str | None]],
    dists: dict[str, list[Path]],
) -> None:
    _, before, after = attacked
    assert after == before
    assert {name: sha for name, sha in after.items() if f"-{V}" in name} == {
        f.name: _sha(f) for f in dists[V]
    }


def _expected(spec: str, dists: dict[str, list[Path]]) -> tuple[str, list[Path]]:
    """The release `spec` must resolve to: the highest published version it admits, and its files."""
    chosen = max((v for v in dists if Version(v) in SpecifierSet(spec)), key=Version)
    return chosen, dists[chosen]


def test_pip_and_uv_install_the_original_files(
    attacked: object, index: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    """pip downloads, for `==V` and for each service's range, the release's own wheel; uv resolves
    the same version and sees only its two original files (the hashes it would pin)."""
    specs = {"==V": f"=={V}", **_service_ranges()}
    netrc = _netrc(READER, tmp_path)
    new_venv(tmp_path / "venv")  # pip's --python target: no orm-models, nothing cached
    for label, spec in specs.items():
        version, files = _expected(spec, dists)
        wheel = next(f for f in files if f.name.endswith(".whl"))
        dest = tmp_path / f"pip-{len(label)}-{abs(hash(spec))}"
        pip = run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
             "--dest", str(dest), "--index-url", index.simple_url, "--no-cache-dir", "--retries", "1",
             f"orm-models{spec}"],
            env=isolated_env(NETRC=str(netrc)),
        )  # fmt: skip
        assert pip.returncode == 0, pip.output
        got = sorted(dest.iterdir())
        assert [(p.name, _sha(p)) for p in got] == [(wheel.name, _sha(wheel))], f"{label}: {pip.output}"
        requirements = tmp_path / "requirements.in"
        requirements.write_text(f"orm-models{spec}\n")
        uv = run(
            [uv_bin(), "pip", "compile", "--no-config", "--no-cache", "--no-deps", "--generate-hashes",
             "--no-header", "--quiet", "--index-url", index.simple_url, str(requirements)],
            env=isolated_env(NETRC=str(netrc)),
        )  # fmt: skip
        assert uv.returncode == 0, uv.output
        pinned = re.findall(r"orm-models==(\S+)", uv.output)
        hashes = set(re.findall(r"sha256:([0-9a-f]{64})", uv.output))
        assert (pinned, hashes) == ([version], {_sha(f) for f in files}), f"{label}: {uv.output}"
        assert READER.password not in pip.output + uv.output


# --- Authentication comes first ------------------------------------------------------------------


def test_a_wrong_password_learns_nothing_about_the_index(
    index: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    """The upload user's name with a wrong password, for a held version: 401, no file named."""
    wrong = Credentials(UPLOADER.username, "not-the-password")
    result = _twine(index, wrong, dists[V][:1])
    assert result.returncode != 0
    assert "401" in result.output, result.output
    status, body = _raw_post(index, wrong, dists[V][0], tmp_path)
    anonymous_status, anonymous_body = _raw_post(index, None, dists[V][0], tmp_path)
    assert (status, anonymous_status) == ("401", "401"), body + anonymous_body
    read_status, read_body = _raw_post(index, READER, dists[V][0], tmp_path)
    assert read_status == "403", read_body
    # Not one name of what the index holds (the uploaded file's own name is twine's to print).
    held = set(published_files(index.simple_url, "orm-models", READER)) - {dists[V][0].name}
    for answer in (result.output, body, anonymous_body, read_body):
        assert not [name for name in held if name in answer], answer
        assert "already published" not in answer


# --- The other half of the same release ----------------------------------------------------------


def test_only_the_same_release_completes_a_version(
    index: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    """A new version's wheel, then an sdist whose module differs (409), then its own sdist (stored).

    A pre-release, so `==V` and the ranges above (final releases) are not concerned.
    """
    candidate = f"{NEW}rc1"
    wheel, sdist = dists[V]
    new_wheel = _rewrite_wheel(wheel, tmp_path / f"orm_models-{candidate}-{WHL}", candidate)
    changed = tmp_path / "changed"
    changed.mkdir()
    other = _write_sdist(
        _sdist_members(sdist, candidate, tweak=True), changed / f"orm_models-{candidate}.tar.gz", "gz"
    )
    own = _write_sdist(_sdist_members(sdist, candidate), tmp_path / f"orm_models-{candidate}.tar.gz", "gz")
    assert _twine(index, UPLOADER, [new_wheel]).returncode == 0
    refused = _twine(index, UPLOADER, [other])
    assert refused.returncode != 0
    assert "__about__.py differs from the published file's" in " ".join(refused.output.split()), (
        refused.output
    )
    stored = _twine(index, UPLOADER, [own])
    assert stored.returncode == 0, stored.output
    held = published_files(index.simple_url, "orm-models", READER)
    assert {n for n in held if candidate in n} == {new_wheel.name, own.name}


def test_publish_refuses_such_a_file_before_sending_it(
    index: IndexServer, dists: dict[str, list[Path]], tmp_path: Path
) -> None:
    """Our own publish judges a file as the index does, so a local version is never even sent."""
    local = _rewrite_wheel(dists[V][0], tmp_path / f"orm_models-{NEW}+ci-{WHL}", f"{NEW}+ci")
    before = published_files(index.simple_url, "orm-models", READER)
    with pytest.raises(ReleaseError) as refused:
        publish([local], Target(index.url, index.simple_url, UPLOADER))
    assert str(refused.value).startswith(f"refusing to publish: refused {local.name}: local versions (+ci)")
    assert published_files(index.simple_url, "orm-models", READER) == before
