"""`api-service` (or `python -m api_service`): serve the API with uvicorn, per the settings."""

import uvicorn

from api_service.config import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "api_service.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
