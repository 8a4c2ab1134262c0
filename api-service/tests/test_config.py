"""Settings from the environment; a bad one is one line naming its variable."""

import pytest
from pydantic import ValidationError

from api_service.config import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "API_DATABASE_URL", "API_AUTH_ISSUER", "API_AUTH_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_AUTH_ANONYMOUS", "true")


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u:secret@db/app")
    monkeypatch.setenv("API_CORS_ORIGINS", "https://a.example, http://localhost:5173")
    monkeypatch.setenv("API_MAX_PAGE_SIZE", "100")

    settings = Settings()  # type: ignore[call-arg]

    assert settings.cors_origins == ["https://a.example", "http://localhost:5173"]
    assert settings.max_page_size == 100
    assert "secret" not in repr(settings)  # the URL is a SecretStr: never in logs
    assert settings.database_url.get_secret_value().endswith("@db/app")


def test_api_prefixed_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/db")
    monkeypatch.setenv("API_DATABASE_URL", "postgresql://mine/db")

    assert Settings().database_url.get_secret_value() == "postgresql+psycopg2://mine/db"  # type: ignore[call-arg]


def test_no_cors_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_CORS_ORIGINS", raising=False)

    assert Settings(database_url="postgresql://x/y").cors_origins == []  # type: ignore[arg-type]


def test_default_page_size_within_max() -> None:
    with pytest.raises(ValidationError, match="default_page_size"):
        Settings(database_url="postgresql://x/y", default_page_size=50, max_page_size=10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db:5432/app",
        "postgres://u:pw@db:5432/app",
        "postgresql+psycopg2://u:pw@db:5432/app",
    ],
)
def test_url_forms_map_to_psycopg2(url: str) -> None:
    settings = Settings(database_url=url)  # type: ignore[arg-type]

    assert settings.database_url.get_secret_value() == "postgresql+psycopg2://u:pw@db:5432/app"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "DATABASE_URL (or API_DATABASE_URL) is not set"),
        (
            {"DATABASE_URL": "mysql://u:hunter2@db/app"},
            "DATABASE_URL (or API_DATABASE_URL): unsupported scheme mysql://",
        ),
        (
            {"DATABASE_URL": "postgresql+asyncpg://u:hunter2@db/app"},
            "unsupported scheme postgresql+asyncpg://",
        ),
        ({"DATABASE_URL": "not a url hunter2"}, "DATABASE_URL (or API_DATABASE_URL): not a database URL"),
        (
            {"DATABASE_URL": "postgresql://db/app", "API_PORT": "eighty"},
            "API_PORT: Input should be a valid integer",
        ),
        ({"DATABASE_URL": "postgresql://db/app", "API_LOG_FORMAT": "xml"}, "API_LOG_FORMAT: Input should be"),
        (
            {"DATABASE_URL": "postgresql://db/app", "API_AUTH_ANONYMOUS": "false"},
            "API_AUTH_ISSUER is required (or API_AUTH_ANONYMOUS=true to serve without tokens)",
        ),
        (
            {
                "DATABASE_URL": "postgresql://db/app",
                "API_AUTH_ANONYMOUS": "false",
                "API_AUTH_ISSUER": "http://i",
            },
            "API_AUTH_AUDIENCE is required",
        ),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    text = str(raised.value)
    assert message in text
    assert "\n" not in text
    assert "hunter2" not in text  # a URL's password is never echoed


def test_auth_settings_are_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/app")
    monkeypatch.setenv("API_AUTH_ANONYMOUS", "false")
    monkeypatch.setenv("API_AUTH_ISSUER", "https://login.example")
    monkeypatch.setenv("API_AUTH_AUDIENCE", "api-service")

    settings = load_settings()

    assert (settings.auth_anonymous, settings.auth_scope) == (False, "people:read")
