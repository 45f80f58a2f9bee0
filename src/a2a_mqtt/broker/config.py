"""Configuration of the embedded Mosquitto broker, rendered to a ``mosquitto.conf``.

:func:`render_config` is pure: the same :class:`BrokerConfig` always renders the
same text, with no file or socket access. :func:`free_port` is the one helper
here that touches the network (it binds an ephemeral port to learn a free one).

Mosquitto 2.0 gotchas the renderer guards against (see ``mqtt-notes.md``):

* no inline comments: ``user root  # x`` is read as the user ``root  # x``;
  comments only ever appear on a line of their own;
* ``per_listener_settings false``: ``password_file``, ``acl_file`` and
  ``allow_anonymous`` appear exactly once, globally;
* ``allow_anonymous`` defaults to *false* in 2.0, so it is always written;
* a WebSockets listener is never the only listener (2.0.x refuses to start),
  and it binds every interface whatever address it is given;
* ``listener 0`` is a Unix socket, not an ephemeral port, so ports are real;
* ``max_queued_messages`` defaults to 1000 and silently drops the excess,
  so it defaults to 0 (unlimited) here, capped by ``max_queued_bytes``.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from a2a_mqtt.errors import ConfigError

__all__ = ["LOG_TYPES", "BrokerConfig", "free_port", "render_config"]

#: The ``log_type`` values Mosquitto 2.0 accepts.
LOG_TYPES = frozenset(
    {
        "debug",
        "error",
        "warning",
        "notice",
        "information",
        "subscribe",
        "unsubscribe",
        "websockets",
        "none",
        "all",
    }
)

_EXPIRATION = re.compile(r"^[1-9][0-9]*[hdwmy]$")


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """Everything the embedded broker needs; immutable and validated on creation.

    Invariants: every port is in 1..65535 and distinct from the others (``port``
    may be 0, meaning "pick a free one when starting"); string values hold no
    line breaks; TLS needs both a certificate and a key.
    """

    host: str = "127.0.0.1"
    #: The plain MQTT listener. 0 means: choose a free port when the broker starts.
    port: int = 0
    #: Where the config, the log and the persistence database live.
    state_dir: Path | None = None
    persistence: bool = True
    #: 0 means unlimited (Mosquitto's own default of 1000 drops messages silently).
    max_queued_messages: int = 0
    max_queued_bytes: int = 256 * 1024 * 1024
    #: Also advertised to clients as the CONNACK Receive Maximum.
    max_inflight_messages: int = 1000
    websockets_port: int | None = None
    password_file: Path | None = None
    acl_file: Path | None = None
    #: ``None`` means: anonymous clients are allowed unless a password file is set.
    allow_anonymous: bool | None = None
    tls_port: int | None = None
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    tls_cafile: Path | None = None
    tls_require_certificate: bool = False
    #: The main listener (``port``) speaks TLS with the ``tls_*`` files; there is
    #: then no plain listener at all (the secure launcher, broker/secure.py).
    listener_tls: bool = False
    #: Mosquitto's dynamic-security plugin (``.so``) and its JSON state file.
    dynsec_plugin: Path | None = None
    dynsec_file: Path | None = None
    #: Bind Client IDs to usernames (the static password/ACL-file fallback).
    use_username_as_clientid: bool = False
    #: e.g. ``"2h"`` or ``"14d"``; ``None`` keeps Mosquitto's default (never expire).
    persistent_client_expiration: str | None = None
    #: Seconds between persistence saves; ``None`` keeps Mosquitto's default (1800).
    autosave_interval: int | None = None
    sys_interval: int | None = None
    """Seconds between ``$SYS`` updates (Mosquitto's default is 10); agents watch
    ``$SYS/broker/publish/messages/dropped`` to report silent drops."""
    log_types: tuple[str, ...] = ("error", "warning", "notice", "information")
    #: Log to this file (flushed per line); ``None`` logs to stdout (block-buffered
    #: when redirected, so lines only appear when Mosquitto exits).
    log_file: Path | None = None
    #: The user Mosquitto runs as when started as root (``user`` option).
    user: str | None = None

    def __post_init__(self) -> None:
        _check_port("port", self.port, allow_zero=True)
        ports = [self.port] if self.port else []
        for name in ("websockets_port", "tls_port"):
            value = getattr(self, name)
            if value is not None:
                _check_port(name, value, allow_zero=False)
                ports.append(value)
        if len(ports) != len(set(ports)):
            raise ConfigError(f"broker listener ports must be distinct, got {ports}")
        for name in ("max_queued_messages", "max_queued_bytes", "max_inflight_messages"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.autosave_interval is not None and self.autosave_interval < 0:
            raise ConfigError("autosave_interval must be >= 0")
        if self.sys_interval is not None and self.sys_interval < 0:
            raise ConfigError("sys_interval must be >= 0")
        if self.persistent_client_expiration is not None and not _EXPIRATION.match(
            self.persistent_client_expiration
        ):
            raise ConfigError(
                "persistent_client_expiration must look like '2h', '14d', '1w', '3m' or '1y'"
            )
        unknown = set(self.log_types) - LOG_TYPES
        if unknown:
            raise ConfigError(f"unknown log_types {sorted(unknown)}; use {sorted(LOG_TYPES)}")
        if (self.tls_port is not None or self.listener_tls) and (
                self.tls_certfile is None or self.tls_keyfile is None):
            raise ConfigError("a TLS listener needs both tls_certfile and tls_keyfile")
        if (self.dynsec_plugin is None) != (self.dynsec_file is None):
            raise ConfigError("dynsec_plugin and dynsec_file go together")
        for name in (
            "host",
            "state_dir",
            "password_file",
            "acl_file",
            "tls_certfile",
            "tls_keyfile",
            "tls_cafile",
            "user",
            "log_file",
            "dynsec_plugin",
            "dynsec_file",
        ):
            value = getattr(self, name)
            if value is not None and ("\n" in str(value) or "\r" in str(value)):
                raise ConfigError(f"{name} must not contain a line break")
        if not self.host:
            raise ConfigError("host must not be empty")

    @property
    def anonymous_allowed(self) -> bool:
        """Whether clients without credentials may connect."""
        if self.allow_anonymous is not None:
            return self.allow_anonymous
        return self.password_file is None and self.dynsec_file is None


def _check_port(name: str, value: int, *, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        raise ConfigError(f"{name} must be in {low}..65535, got {value}")


def render_config(cfg: BrokerConfig) -> str:
    """Render ``cfg`` as a Mosquitto 2.0 configuration file.

    Raises :class:`ConfigError` if the config still has ``port=0`` (choose a
    port first) or enables persistence without a ``state_dir``.
    """
    if cfg.port == 0:
        raise ConfigError("choose a port before rendering (port=0 means 'pick one at start')")
    if cfg.persistence and cfg.state_dir is None:
        raise ConfigError("persistence needs a state_dir")
    lines = [
        "# Generated by a2a-mqtt; edits are overwritten on the next start.",
        "per_listener_settings false",
    ]
    if cfg.user is not None:
        lines.append(f"user {cfg.user}")
    lines.append(f"allow_anonymous {_bool(cfg.anonymous_allowed)}")
    if cfg.password_file is not None:
        lines.append(f"password_file {cfg.password_file}")
    if cfg.acl_file is not None:
        lines.append(f"acl_file {cfg.acl_file}")
    if cfg.dynsec_plugin is not None:
        lines += [f"plugin {cfg.dynsec_plugin}", f"plugin_opt_config_file {cfg.dynsec_file}"]
    lines.append(f"persistence {_bool(cfg.persistence)}")
    if cfg.persistence and cfg.state_dir is not None:
        # Mosquitto concatenates location and file name, so the trailing slash matters.
        lines.append(f"persistence_location {str(cfg.state_dir).rstrip('/')}/")
        lines.append("persistence_file mosquitto.db")
    if cfg.autosave_interval is not None:
        lines.append(f"autosave_interval {cfg.autosave_interval}")
    if cfg.sys_interval is not None:
        lines.append(f"sys_interval {cfg.sys_interval}")
    if cfg.persistent_client_expiration is not None:
        lines.append(f"persistent_client_expiration {cfg.persistent_client_expiration}")
    lines += [
        f"max_queued_messages {cfg.max_queued_messages}",
        f"max_queued_bytes {cfg.max_queued_bytes}",
        f"max_inflight_messages {cfg.max_inflight_messages}",
        "set_tcp_nodelay true",
        f"log_dest file {cfg.log_file}" if cfg.log_file is not None else "log_dest stdout",
        "connection_messages true",
    ]
    lines += [f"log_type {t}" for t in cfg.log_types]
    # The main TCP listener always exists (WebSockets alone does not start on 2.0.x);
    # with listener_tls it is the TLS one and nothing listens in plain text.
    # Listener options follow their listener line: before any, Mosquitto would open
    # a default listener on 1883 to hold them.
    per_listener = ["use_username_as_clientid true"] if cfg.use_username_as_clientid else []
    lines += [f"listener {cfg.port} {cfg.host}", *per_listener]
    if cfg.listener_tls:
        lines += _tls_lines(cfg)
    if cfg.websockets_port is not None:
        lines += [f"listener {cfg.websockets_port} {cfg.host}", "protocol websockets",
                  *per_listener]
        if cfg.listener_tls:
            lines += _tls_lines(cfg)
    if cfg.tls_port is not None:
        lines += [f"listener {cfg.tls_port} {cfg.host}", *per_listener, *_tls_lines(cfg)]
    return "\n".join(lines) + "\n"


def _tls_lines(cfg: BrokerConfig) -> list[str]:
    lines = [f"certfile {cfg.tls_certfile}", f"keyfile {cfg.tls_keyfile}"]
    if cfg.tls_cafile is not None:
        lines.append(f"cafile {cfg.tls_cafile}")
    lines.append(f"require_certificate {_bool(cfg.tls_require_certificate)}")
    return lines


def _bool(value: bool) -> str:
    return "true" if value else "false"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago.

    The port is released before returning, so another process may take it
    first; callers that pick ports this way retry on "address in use".
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
