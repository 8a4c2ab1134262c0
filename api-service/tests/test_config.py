"""Settings from the environment."""

import pytest
from pydantic import ValidationError

from api_service.config import Settings


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

    assert Settings().database_url.get_secret_value() == "postgresql://mine/db"  # type: ignore[call-arg]


def test_no_cors_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_CORS_ORIGINS", raising=False)

    assert Settings(database_url="postgresql://x/y").cors_origins == []  # type: ignore[arg-type]


def test_default_page_size_within_max() -> None:
    with pytest.raises(ValidationError, match="default_page_size"):
        Settings(database_url="postgresql://x/y", default_page_size=50, max_page_size=10)  # type: ignore[arg-type]
