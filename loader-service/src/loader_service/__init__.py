"""Syncs externally sourced records into the shared database."""
