"""AWS CodeArtifact as the index (`ORM_INDEX_URL=codeartifact://...`).

The control plane is boto3's real CodeArtifact client behind botocore's Stubber, which checks each
request's parameters against the service model (moto has no CodeArtifact backend). The data plane
is a local guarded pypiserver standing in for the repository endpoint: the stubbed
`get_repository_endpoint` returns its URL, and its upload user is `aws` with the token as password,
as CodeArtifact's is. publish, versions and the uv install path (what lock, compat and the tests
session use) run the release tool's real code against them.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.stub import Stubber

from tests.e2e.helpers import HIGHEST_2X, installed, isolated_env, new_venv, run, uv_bin
from tools.release import ReleaseError, codeartifact
from tools.release import __main__ as release_tool
from tools.release.credentials import Credentials
from tools.release.index import IndexServer

URL = "codeartifact://acme-corp-111122223333/internal?region=eu-west-1"
REPOSITORY = {"domain": "acme-corp", "domainOwner": "111122223333"}
TOKEN = "ca-token-" + secrets.token_urlsafe(24)
T0 = 1_900_000_000.0


def _client() -> tuple[Any, Stubber]:
    client = get_session().create_client(
        "codeartifact", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return client, Stubber(client)


def _endpoint(stubber: Stubber, url: str) -> None:
    expected = {**REPOSITORY, "repository": "internal", "format": "pypi"}
    stubber.add_response("get_repository_endpoint", {"repositoryEndpoint": url}, expected)


def _token(stubber: Stubber, token: str, expires: float) -> None:
    answer = {"authorizationToken": token, "expiration": datetime.fromtimestamp(expires, UTC)}
    stubber.add_response("get_authorization_token", answer, {**REPOSITORY, "durationSeconds": 3600})


# --- The URL form -------------------------------------------------------------------------------


def test_the_url_names_domain_owner_repository_and_region() -> None:
    repository = codeartifact.parse(URL)
    assert repository == codeartifact.Repository("acme-corp", "111122223333", "internal", "eu-west-1")
    assert str(repository) == URL
    assert codeartifact.parse("codeartifact://acme-111122223333/internal/") == codeartifact.Repository(
        "acme", "111122223333", "internal"
    )
    assert codeartifact.parse("http://127.0.0.1:8080/") is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("codeartifact://acme/internal", "is not <domain>-<12-digit account id>"),
        ("codeartifact://acme-1234/internal", "is not <domain>-<12-digit account id>"),
        ("codeartifact://acme-111122223333/", "is not a repository name"),
        ("codeartifact://acme-111122223333/a/b", "is not a repository name"),
        ("codeartifact://aws:secret@acme-111122223333/internal", "no credentials in it"),
        ("codeartifact://acme-111122223333/internal?regoin=x", "unknown option(s) ['regoin']"),
    ],
)
def test_a_malformed_url_is_one_clear_line(url: str, why: str) -> None:
    with pytest.raises(ReleaseError) as error:
        codeartifact.parse(url)
    assert why in str(error.value)
    assert "\n" not in str(error.value)
    assert "secret" not in str(error.value)


# --- The control plane ----------------------------------------------------------------------------


def test_the_token_is_reused_and_replaced_before_it_expires() -> None:
    client, stubber = _client()
    now = [T0]
    _endpoint(stubber, "https://stand-in.example/pypi/internal/")
    _token(stubber, "first", T0 + 3600)
    _token(stubber, "second", T0 + 7200)
    source = codeartifact.TokenSource(codeartifact.parse(URL), client, clock=lambda: now[0])  # type: ignore[arg-type]
    with stubber:
        assert source.target().upload_url == "https://stand-in.example/pypi/internal/"
        assert source.target().simple_url == "https://stand-in.example/pypi/internal/simple/"
        assert source.token() == "first"
        now[0] = T0 + 3600 - codeartifact.REFRESH_MARGIN_SECONDS - 1  # still valid long enough
        assert source.credentials() == Credentials("aws", "first")
        now[0] = T0 + 3600 - codeartifact.REFRESH_MARGIN_SECONDS + 1  # within the margin: replaced
        assert source.token() == "second"
        assert source.endpoint() == "https://stand-in.example/pypi/internal/"  # asked once
        stubber.assert_no_pending_responses()
    assert "first" not in repr(source.credentials())
    assert "second" not in repr(source.target())


def test_a_refused_token_request_is_one_line_naming_the_repository() -> None:
    client, stubber = _client()
    stubber.add_client_error(
        "get_authorization_token",
        "AccessDeniedException",
        "not authorized to perform GetAuthorizationToken",
        403,
    )
    source = codeartifact.TokenSource(codeartifact.parse(URL), client)  # type: ignore[arg-type]
    with stubber, pytest.raises(ReleaseError) as error:
        source.token()
    assert str(error.value) == (
        f"CodeArtifact get_authorization_token for {URL}: AccessDeniedException: "
        "not authorized to perform GetAuthorizationToken"
    )


# --- The data plane: a guarded pypiserver as the repository endpoint ------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, hostile_index: IndexServer) -> Iterator[IndexServer]:
    work = tmp_path_factory.mktemp("codeartifact")
    with IndexServer(
        packages=work / "packages", credentials=Credentials("aws", TOKEN), htpasswd=work / "htpasswd",
        fallback_url=hostile_index.simple_url, log=work / "index.log",
    ) as server:  # fmt: skip
        yield server


@pytest.fixture
def stubbed(endpoint: IndexServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stubber]:
    """ORM_INDEX_URL names the repository; boto3's client is the stubbed one; HOME is empty."""
    client, stubber = _client()
    monkeypatch.setattr(codeartifact, "_new_client", lambda repository: client)
    monkeypatch.setattr(codeartifact, "_SOURCES", {})
    for key in ("TWINE_USERNAME", "TWINE_PASSWORD", "TWINE_REPOSITORY_URL", "UV_INDEX_PRIVATE_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ORM_INDEX_URL", URL)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_publish_versions_and_install_through_codeartifact(
    stubbed: Stubber,
    endpoint: IndexServer,
    dists: dict[str, list[Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """publish (pre-flight, twine) and versions with one token; index-env's JSON feeds uv."""
    _endpoint(stubbed, endpoint.url)
    _token(stubbed, TOKEN, datetime.now(UTC).timestamp() + 3600)
    files = dists[HIGHEST_2X]
    assert release_tool.main(["publish", *map(str, files)]) == 0
    assert release_tool.main(["versions"]) == 0
    assert release_tool.main(["index-env"]) == 0
    out, err = capsys.readouterr()
    *printed, env_line = out.strip().splitlines()
    assert [line.split()[:2] for line in printed[:2]] == [["publish", f.name] for f in files], out + err
    assert printed[2:] == [HIGHEST_2X], out
    assert TOKEN not in "\n".join(printed) + err  # only index-env's JSON, for a pipe, holds it
    given = json.loads(env_line)
    assert given == {"simple_url": endpoint.simple_url, "username": "aws", "password": TOKEN,
                     "expires_at": given["expires_at"]}  # fmt: skip

    # What lock, compat and the tests session do with it: the services' named index "private".
    python = new_venv(tmp_path / "venv")
    uv = run(
        [uv_bin(), "pip", "install", "--no-config", "--no-cache", "--quiet", "--python", str(python),
         "--index", f"private={given['simple_url']}", "--index-strategy", "first-index", "--no-deps",
         f"orm-models=={HIGHEST_2X}"],
        env=isolated_env(
            UV_INDEX_PRIVATE_USERNAME=given["username"], UV_INDEX_PRIVATE_PASSWORD=given["password"]
        ),
    )  # fmt: skip
    assert uv.returncode == 0, uv.output
    assert installed(python, "orm-models") == HIGHEST_2X
    assert TOKEN not in uv.output
    # Nothing on disk holds the token: not HOME, not the endpoint's log.
    for path in [*(tmp_path / "home").rglob("*"), endpoint.log]:
        assert path is None or not path.is_file() or TOKEN not in path.read_text(errors="replace"), path


def test_a_wrong_token_is_refused_before_anything_is_built(
    stubbed: Stubber, endpoint: IndexServer, dists: dict[str, list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    _endpoint(stubbed, endpoint.url)
    _token(stubbed, "expired-" + TOKEN, datetime.now(UTC).timestamp() + 3600)
    assert release_tool.main(["publish", *map(str, dists["2.0.0"])]) == 1
    _, err = capsys.readouterr()
    # The endpoint stand-in (pypiserver) answers 403 to a wrong password, CodeArtifact 401.
    assert re.search(r"refused these credentials \(HTTP 403\)|\(HTTP 401\)", err), err
    assert TOKEN not in err
