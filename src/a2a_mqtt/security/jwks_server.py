"""JwksServer: a JWKS (and the issuer's metadata) served over HTTPS.

``GET /.well-known/jwks.json`` answers the issuer's public key set, read from
its directory on every request so a rotation is served at once;
``GET /.well-known/openid-configuration`` names the issuer and the JWKS URL.
TLS is mandatory: a JWKS fetched over plain HTTP could be replaced in transit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import uvicorn

from a2a_mqtt._net import listen_socket
from a2a_mqtt._uvicorn import EmbeddedUvicorn
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.security.issuer import TokenIssuer

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


class JwksServer:
    """Serves one issuer's JWKS; an async context manager (not reentrant)."""

    def __init__(self, config: JwksServerConfig) -> None:
        self.config = config
        self.issuer = TokenIssuer(config.issuer_dir)
        self.requests = 0
        """JWKS documents served (how often verifiers fetched)."""
        self._server: EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._base = ""

    @property
    def url(self) -> str:
        """``https://host:port`` actually bound."""
        if not self._base:
            raise RuntimeError("JwksServer is not running")
        return self._base

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

    async def __aenter__(self) -> JwksServer:
        if self._task is not None:
            raise RuntimeError("JwksServer is already running")
        cfg = self.config
        ucfg = uvicorn.Config(self._app, host=cfg.host, port=cfg.port, lifespan="off",
                              interface="asgi3",
                              log_level="warning", access_log=False,
                              ssl_certfile=str(cfg.cert_file), ssl_keyfile=str(cfg.key_file))
        sock = listen_socket(cfg.host, cfg.port)
        server = EmbeddedUvicorn(ucfg)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="a2a-mqtt-jwks.http")
        listening = asyncio.create_task(server.listening.wait(), name="a2a-mqtt-jwks.listening")
        done, _ = await asyncio.wait({task, listening}, timeout=30.0,
                                     return_when=asyncio.FIRST_COMPLETED)
        if listening not in done:
            listening.cancel()
            server.should_exit = True
            sock.close()
            if task in done:
                task.result()
            raise RuntimeError(f"the JWKS server did not start on {cfg.host}:{cfg.port}")
        host, port = sock.getsockname()[:2]
        self._server, self._task = server, task
        self._base = f"https://{f'[{host}]' if ':' in host else host}:{port}"
        log.info("JWKS of %s served on %s", self.issuer.issuer, self.jwks_url)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        self._base = ""
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            async with asyncio.timeout(5.0):
                await task
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
