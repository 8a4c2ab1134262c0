"""The loader's named choices (source formats, load modes, load paths), in a module that imports nothing.

The CLI's parser lists them in `--help` and checks them; keeping them apart from the code that
uses them lets `loader-service --help`/`--version` answer without importing the database stack.
"""

from typing import Literal

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")

Mode = Literal["sync", "append"]
MODES: tuple[Mode, ...] = ("sync", "append")

LoadPath = Literal["auto", "bulk", "merge"]
LOAD_PATHS: tuple[LoadPath, ...] = ("auto", "bulk", "merge")
