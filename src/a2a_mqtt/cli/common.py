"""What every CLI command shares: connection options and the error boundary."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from a2a.client.client import ClientCallContext
from a2a.client.errors import A2AClientError
from a2a.utils.errors import A2AError

from a2a_mqtt._loop import run as run_loop
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.errors import A2AMqttError

__all__ = ["Settings", "common", "one_line", "run_async", "token_option"]

_T = TypeVar("_T")
_FOREVER = 10.0 ** 7  # seconds (~4 months): a bound asyncio accepts, never reached

#: Failures a user can cause or meet (a port in use, a broker gone, a bad value):
#: each becomes one line on stderr and exit status 1, never a traceback.
_EXPECTED: tuple[type[BaseException], ...] = (
    A2AMqttError, A2AError, A2AClientError, TimeoutError, OSError)


class Settings:
    """Connection options shared by every client command."""

    def __init__(self, conn: Connection, timeout: float, as_json: bool,
                 payload_encoding: str = "auto") -> None:
        self.conn = conn
        self.payload_encoding = payload_encoding
        self.broker = conn.broker
        self.timeout = timeout
        self.as_json = as_json
        self.token: str | None = None
        """A bearer token for the agent (``--token``); a secret: never printed."""

    def context(self, timeout: float | None) -> ClientCallContext:
        """A call's context: its timeout, and the bearer token as the binding carries it
        (the ``Authorization`` service parameter, sent as ``a2a-authorization``)."""
        params = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return ClientCallContext(timeout=timeout, service_parameters=params)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """:func:`run_async`, naming this command's broker on a failure."""
        return run_async(coro, conn=self.conn)

    def requester(self) -> RequesterConfig:
        conn = self.conn
        config = RequesterConfig(connection=conn.settings,
                                 reply_first_timeout=self.timeout, max_attempts=2,
                                 payload_encoding=self.payload_encoding,
                                 backoff=(0.5,),
                                 # Streams have no idle death: cli/follow.py watches the
                                 # agent's presence instead (and --idle-timeout, opt-in).
                                 stream_idle_timeout=_FOREVER)
        if conn.identity is None:
            return config
        # On a secure broker the Client ID must be the identity's own.
        return dataclasses.replace(config, org=conn.identity.org, unit=conn.identity.unit,
                                   requester_id=conn.identity.name)


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (a multi-line message keeps its first line)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    first = str(message).strip().splitlines()[0] if str(message).strip() else ""
    return f"{type(exc).__name__}: {first}"


def run_async(coro: Coroutine[Any, Any, _T], *, conn: Connection | None = None) -> _T:
    """Run a command's coroutine, turning expected failures into one line and exit 1.

    With ``conn``, the line says which broker was used and where its URL came from.
    """
    try:
        return run_loop(coro)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except click.ClickException:
        raise
    except _EXPECTED as exc:
        suffix = f" [{conn.describe_broker()}]" if conn is not None else ""
        raise click.ClickException(one_line(exc) + suffix) from exc


def payload_encoding_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--encoding`` / ``A2A_MQTT_PAYLOAD_ENCODING``: the payload encoding (binary
    protobuf or JSON, docs/binding.md §3.4). Short, so the help's columns keep their width."""
    return click.option("--encoding", "payload_encoding", envvar="A2A_MQTT_PAYLOAD_ENCODING",
                        type=click.Choice(["auto", "json"]), metavar="auto|json",
                        default="auto", show_default=True, help=text)


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """The connection flags (cli/connection.py), --timeout, --json, --encoding."""
    @connection_options
    @click.option("--timeout", envvar="A2A_MQTT_TIMEOUT", type=float, default=10.0,
                  show_default=True, help="Seconds to wait for a first reply.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @payload_encoding_option("Binary protobuf once an agent says it reads it (auto), or "
                             "JSON only.")
    @functools.wraps(f)
    def wrapper(conn: Connection, timeout: float, as_json: bool, payload_encoding: str,
                **kwargs: Any) -> Any:
        return f(Settings(conn, timeout, as_json, payload_encoding), **kwargs)
    return wrapper


def _token(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    token = value.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        # The value is a secret: the message says what is wrong, never what it was.
        raise click.BadParameter("not a bearer token (whitespace or control characters)")
    return token


def token_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--token`` / ``A2A_MQTT_TOKEN`` for commands that call an agent (below ``@common``)."""
    @click.option("--token", envvar="A2A_MQTT_TOKEN", default=None, metavar="JWT",
                  callback=_token, expose_value=True,
                  help="Bearer token for the agent (sent as a2a-authorization; never "
                       "printed). Prefer the A2A_MQTT_TOKEN variable: a flag shows in ps.")
    @functools.wraps(f)
    def wrapper(s: Settings, *args: Any, token: str | None, **kwargs: Any) -> Any:
        s.token = token
        return f(s, *args, **kwargs)
    return wrapper
