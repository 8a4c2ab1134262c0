"""Syncs externally sourced records (CSV or JSON Lines, local or over HTTP) into the shared database."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loader-service")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"
