"""JwksServer: a JWKS (and the issuer's metadata) served over HTTPS.

``GET /.well-known/jwks.json`` answers the issuer's public key set, read from
its directory on every request so a rotation is served at once;
``GET /.well-known/openid-configuration`` names the issuer and the JWKS URL.
TLS is mandatory: a JWKS fetched over plain HTTP could be replaced in transit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import uvicorn

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.security.issuer import TokenIssuer
from a2a_mqtt.service import HttpServer

__all__ = ["JWKS_PATH", "JwksServer", "JwksServerConfig"]

log = logging.getLogger("a2a_mqtt.security")

JWKS_PATH: Final = "/.well-known/jwks.json"
_OIDC_PATH: Final = "/.well-known/openid-configuration"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class JwksServerConfig:
    issuer_dir: Path
    cert_file: Path
    key_file: Path
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port (see :attr:`JwksServer.url`)."""

    def __post_init__(self) -> None:
        for name in ("cert_file", "key_file"):
            if not getattr(self, name).is_file():
                raise ConfigError(f"{name} {getattr(self, name)} does not exist")

    def server(self) -> JwksServer:
        return JwksServer(self)


class JwksServer(HttpServer):
    """Serves one issuer's JWKS; an async context manager (reusable, not reentrant);
    ``url`` is ``https://host:port`` actually bound."""

    def __init__(self, config: JwksServerConfig) -> None:
        self.config = config
        self.issuer = TokenIssuer(config.issuer_dir)
        self.requests = 0
        """JWKS documents served (how often verifiers fetched)."""

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        body: Any
        if method != "GET":
            status, body = 405, {"error": "method not allowed"}
        elif path == JWKS_PATH:
            self.requests += 1
            status, body = 200, self.issuer.jwks()
        elif path == _OIDC_PATH:
            status, body = 200, {"issuer": self.issuer.issuer, "jwks_uri": self.jwks_url}
        else:
            status, body = 404, {"error": "not found"}
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"cache-control", b"max-age=60"),
            (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def _start(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        await self._serve_http(stack, uvicorn.Config(
            self._app, lifespan="off", interface="asgi3", log_level="warning",
            access_log=False, timeout_graceful_shutdown=1,
            ssl_certfile=str(cfg.cert_file), ssl_keyfile=str(cfg.key_file)),
            host=cfg.host, port=cfg.port, name="a2a-mqtt-jwks", stop_grace=5.0,
            scheme="https")
        log.info("JWKS of %s served on %s", self.issuer.issuer, self.jwks_url)
