"""Per request: a request id, one access-log line, the metrics. A plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs the app in a separate task
and streams the body through a memory channel: measurable on a ~1 ms request.

It is also the last resort for an unexpected exception: it logs it (with the request id bound)
and answers a JSON 500 carrying `X-Request-ID`, so a client's report can be matched to the log.
"""

import random
import re
import time

from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_service import metrics
from api_service.logs import REQUEST_ID, get_logger

HEADER = b"x-request-id"
# A caller's id is kept when it is a plausible id: short, and nothing a log line could be forged with.
_ACCEPTABLE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_UNMATCHED = "unmatched"  # 404s: a fixed label, so scanners cannot grow the metrics without bound
_FAILURE = (
    b'{"detail":"internal server error"}',
    [(b"content-type", b"application/json"), (b"content-length", b"34")],
)

access_log = get_logger("api_service.access")
error_log = get_logger("api_service.errors")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER and _ACCEPTABLE_ID.fullmatch(value):
            accepted: str = value.decode()
            return accepted
    # 128 random bits from the process's PRNG: an id to find a request in the logs, not a secret.
    # secrets.token_hex asks the kernel (urandom) and so releases the GIL on the event loop,
    # which then waits behind the request threads to get it back.
    # (random's own generator is reseeded in a forked child, so workers never share a sequence.)
    return f"{random.getrandbits(128):032x}"


class Observe:
    def __init__(self, app: ASGIApp, *, engine: Engine, access: bool, record_metrics: bool) -> None:
        self.app = app
        self.engine = engine
        self.access = access
        self.record_metrics = record_metrics
        # Bound once, with the configuration of the app being built, rather than on every line.
        self.access_log = access_log.bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        bound = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error", method=scope["method"], path=scope["path"])
            if response_started:
                raise  # the client already has a status; the server closes the connection
            body, headers = _FAILURE
            await send_with_id({"type": "http.response.start", "status": 500, "headers": list(headers)})
            await send({"type": "http.response.body", "body": body})
        finally:
            seconds = time.perf_counter() - started
            if self.record_metrics:
                route = scope.get("route")
                template = getattr(route, "path", None) or _UNMATCHED
                metrics.observe(scope["method"], template, status, seconds)
                metrics.observe_pool(self.engine)
            if self.access:
                self.access_log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                    client=scope["client"][0] if scope.get("client") else None,
                )
            REQUEST_ID.reset(bound)
