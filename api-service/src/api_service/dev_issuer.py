"""A tiny OpenID Connect issuer on loopback, for the demo, the web page and the tests. Not for production.

It holds a key pair (RS256 or ES256), serves

    GET  /.well-known/openid-configuration   discovery: issuer, jwks_uri, token_endpoint
    GET  /jwks.json                          the public keys
    POST /token                              {"access_token", "token_type": "Bearer", "expires_in"}

and answers any origin (CORS) so a page served elsewhere can fetch a token. `/token` takes
`scope` and `expires_in` from a form or JSON body and asks for no credential: whoever reaches it
gets a token, hence loopback only. `rotate()` adds a new key and signs with it from then on.

    python -m api_service.dev_issuer [--port 9000] [--audience api-service]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

Algorithm = Literal["RS256", "ES256"]
DEFAULT_AUDIENCE = "api-service"
DEFAULT_SCOPE = "people:read"
DEFAULT_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 24 * 3600


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: Algorithm
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, algorithm: Algorithm) -> SigningKey:
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            private = ec.generate_private_key(ec.SECP256R1())
        return cls(uuid.uuid4().hex[:16], algorithm, private)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class DevIssuer:
    """The issuer; `with DevIssuer() as issuer:` serves it on a free loopback port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        audience: str = DEFAULT_AUDIENCE,
        algorithm: Algorithm = "RS256",
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the dev issuer mints tokens for anyone: loopback only, not {host}")
        self.audience = audience
        self.algorithm: Algorithm = algorithm
        self.keys: list[SigningKey] = [SigningKey.generate(algorithm)]
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.handle_error = _quiet_on_disconnect(self._server.handle_error)  # type: ignore[assignment]
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        self._thread: threading.Thread | None = None
        # For tests and benchmarks of a slow issuer: each JWKS answer first waits for the gate
        # (open unless a test closes it), then sleeps jwks_delay seconds.
        self.jwks_gate = threading.Event()
        self.jwks_gate.set()
        self.jwks_delay = 0.0
        self.jwks_requests = 0

    # --- keys and tokens ---------------------------------------------------------------------

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    def rotate(self, algorithm: Algorithm | None = None, *, retire_old: bool = False) -> SigningKey:
        """A new signing key, published in the JWKS and used from now on."""
        key = SigningKey.generate(algorithm or self.algorithm)
        self.keys = [key] if retire_old else [*self.keys, key]
        return key

    def issue(
        self,
        scope: str | None = DEFAULT_SCOPE,
        expires_in: int = DEFAULT_EXPIRES_IN,
        *,
        subject: str = "demo-user",
        audience: str | None = None,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; the overrides let tests make wrong ones."""
        signer = key or self.keys[-1]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url,
            "sub": subject,
            "aud": audience or self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }
        if scope is not None:
            payload["scope"] = scope
        payload.update(claims)
        return jwt.encode(payload, signer.private, algorithm=signer.algorithm, headers={"kid": signer.kid})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_url,
            "token_endpoint": f"{self.url}/token",
            "id_token_signing_alg_values_supported": [self.algorithm],
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    # --- serving -------------------------------------------------------------------------------

    def start(self) -> DevIssuer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="dev-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DevIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _quiet_on_disconnect(handle_error: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """A client that gave up on a slow answer (jwks_delay) is no error worth a traceback."""

    def handle(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            handle_error(request, client_address)

    return handle


class _BadRequestError(Exception):
    pass


def _token_request(content_type: str, body: bytes) -> tuple[str, int]:
    """`scope` and `expires_in` from a form or JSON body (both optional)."""
    fields: dict[str, Any]
    if content_type.split(";")[0].strip() == "application/json":
        try:
            fields = json.loads(body or b"{}")
        except ValueError:
            raise _BadRequestError("body is not JSON") from None
        if not isinstance(fields, dict):
            raise _BadRequestError("body is not a JSON object")
    else:
        fields = {name: values[0] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
    scope = fields.get("scope", DEFAULT_SCOPE)
    if not isinstance(scope, str):
        raise _BadRequestError("scope must be a string of space-separated scopes")
    try:
        expires_in = int(fields.get("expires_in", DEFAULT_EXPIRES_IN))
    except (TypeError, ValueError):
        raise _BadRequestError("expires_in must be an integer number of seconds") from None
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise _BadRequestError(f"expires_in must be between 1 and {MAX_EXPIRES_IN}")
    return scope, expires_in


def _handler_for(issuer: DevIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            self._reply(204, None)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._reply(200, issuer.discovery())
            elif self.path == "/jwks.json":
                issuer.jwks_requests += 1
                issuer.jwks_gate.wait()
                time.sleep(issuer.jwks_delay)
                self._reply(200, issuer.jwks())
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/token":
                self._reply(404, {"error": "not_found"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                scope, expires_in = _token_request(self.headers.get("Content-Type", ""), body)
            except _BadRequestError as exc:
                self._reply(400, {"error": "invalid_request", "error_description": str(exc)})
                return
            token = issuer.issue(scope=scope, expires_in=expires_in)
            self._reply(
                200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope}
            )

        def _reply(self, status: int, body: dict[str, Any] | None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type, Authorization")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Cache-Control", "no-store")
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the demo prints what matters

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m api_service.dev_issuer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=9000, help="loopback port (default 9000; 0 = any free)")
    parser.add_argument(
        "--audience", default=DEFAULT_AUDIENCE, help=f"aud claim (default {DEFAULT_AUDIENCE})"
    )
    parser.add_argument("--algorithm", choices=["RS256", "ES256"], default="RS256")
    arguments = parser.parse_args()
    with DevIssuer(port=arguments.port, audience=arguments.audience, algorithm=arguments.algorithm) as issuer:
        print(f"dev issuer at {issuer.url}; point the API at it with", flush=True)
        print(f"  API_AUTH_ISSUER={issuer.url} API_AUTH_AUDIENCE={issuer.audience}", flush=True)
        print(f"a token: curl -s -X POST {issuer.url}/token -d scope={DEFAULT_SCOPE}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
