"""The version of this release; hatchling reads it, `orm-models check` verifies it."""

__version__ = "2.4.0"
