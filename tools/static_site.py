"""A directory over HTTP on a free loopback port: the web page's own origin (demo and browser tests)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"


@contextmanager
def static_site(root: Path = WEB_ROOT) -> Iterator[str]:
    """Serve `root` until the block ends; yields the base URL, `http://127.0.0.1:<port>`."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per file fetched is noise in a demo and in test output
