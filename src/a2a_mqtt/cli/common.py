"""What every CLI command shares: connection options and the error boundary."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from a2a.utils.errors import A2AError

from a2a_mqtt._loop import run as run_loop
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.errors import A2AMqttError

__all__ = ["Settings", "common", "run_async"]

_T = TypeVar("_T")


class Settings:
    """Connection options shared by every client command."""

    def __init__(self, broker: str, username: str | None, password: str | None,
                 timeout: float, as_json: bool) -> None:
        self.broker = broker
        self.username = username
        self.password = password
        self.timeout = timeout
        self.as_json = as_json

    def requester(self) -> RequesterConfig:
        return RequesterConfig(broker_url=self.broker, username=self.username,
                               password=self.password, reply_first_timeout=self.timeout,
                               max_attempts=2, backoff=(0.5,))


def run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's coroutine, turning our errors into a clean non-zero exit."""
    try:
        return run_loop(coro)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except (A2AMqttError, A2AError, TimeoutError) as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise click.ClickException(f"{type(exc).__name__}: {message}") from exc


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """--broker, --username, --password, --timeout, --json."""
    @click.option("--broker", envvar="A2A_MQTT_BROKER", default="mqtt://127.0.0.1:1883",
                  show_default=True, help="Broker URL (mqtt://, mqtts://, ws://, wss://).")
    @click.option("--username", envvar="A2A_MQTT_USERNAME", default=None)
    @click.option("--password", envvar="A2A_MQTT_PASSWORD", default=None)
    @click.option("--timeout", envvar="A2A_MQTT_TIMEOUT", type=float, default=10.0,
                  show_default=True, help="Seconds to wait for a first reply.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(f)
    def wrapper(broker: str, username: str | None, password: str | None, timeout: float,
                as_json: bool, **kwargs: Any) -> Any:
        return f(Settings(broker, username, password, timeout, as_json), **kwargs)
    return wrapper
