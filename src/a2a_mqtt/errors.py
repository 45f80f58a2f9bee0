"""The one exception tree of a2a-mqtt.

::

    A2AMqttError                      root: catch this to catch everything of ours
    ├── ConfigError                   a bad option, URL or identifier given by the caller
    │   └── WorkflowError, ...        a refused workflow file (a2a_mqtt.workflows.errors)
    ├── TransportError                the MQTT connection failed us
    │   ├── ConnectError              CONNECT refused or the broker is unreachable
    │   ├── NotConnectedError         an operation needed a live connection and had none
    │   ├── PublishError              PUBACK carried a failure reason code (carries it)
    │   ├── SubscribeError            SUBACK refused a filter (carries the reason code)
    │   └── TransportTimeout          an acknowledgement did not arrive in time
    ├── ProtocolError                 someone broke the binding (docs/binding.md)
    │   ├── LocalProtocolError        we were asked to send something the binding forbids
    │   └── RemoteProtocolError       a peer sent something the binding forbids
    │       └── InvalidCardError      an Agent Card that is not JSON or fails the schema
    ├── BrokerError                   the embedded Mosquitto could not be started
    ├── StoreError                    the task store cannot be used (full, unreachable, ...)
    └── DiscoveryError                an agent reference did not resolve

A2A-level failures (task not found, unsupported operation, ...) are not part of
this tree: they are a2a-sdk's own ``a2a.utils.errors.A2AError`` subclasses, so the
stock a2a-sdk ``Client`` sees exactly the classes it sees over HTTP. The
translation between MQTT client library codes and this tree happens only in
``a2a_mqtt.transport``.
"""

from __future__ import annotations

__all__ = [
    "A2AMqttError",
    "BrokerError",
    "ConfigError",
    "ConnectError",
    "DiscoveryError",
    "InvalidCardError",
    "LocalProtocolError",
    "NotConnectedError",
    "ProtocolError",
    "PublishError",
    "RemoteProtocolError",
    "StoreError",
    "SubscribeError",
    "TransportError",
    "TransportTimeout",
    "WorkerError",
]


class A2AMqttError(Exception):
    """Root of every exception a2a-mqtt raises on its own account."""


class ConfigError(A2AMqttError, ValueError):
    """A caller-supplied option, URL or identifier is invalid."""


class TransportError(A2AMqttError):
    """The MQTT connection could not do what was asked."""


class ConnectError(TransportError):
    """The broker refused the connection or could not be reached."""

    def __init__(self, message: str, *, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class NotConnectedError(TransportError):
    """The operation needs a connected session and there is none."""


class PublishError(TransportError):
    """The broker acknowledged a publish with a failure reason code."""

    def __init__(self, message: str, *, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class SubscribeError(TransportError):
    """The broker refused a subscription."""

    def __init__(self, message: str, *, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class TransportTimeout(TransportError, TimeoutError):
    """An acknowledgement or reply did not arrive within its deadline."""


class ProtocolError(A2AMqttError):
    """Base for violations of the A2A-over-MQTT binding.

    Not raised directly: use :class:`LocalProtocolError` or
    :class:`RemoteProtocolError` so the reader knows whose fault it is.
    ``code`` is the JSON-RPC error code the violation answers with.
    """

    def __init__(self, message: str, *, code: int = -32600, data: object = None) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError")
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


class LocalProtocolError(ProtocolError):
    """We were asked to send something the binding forbids."""


class RemoteProtocolError(ProtocolError):
    """A peer sent something the binding forbids."""


class InvalidCardError(RemoteProtocolError):
    """An Agent Card payload is not JSON or does not validate."""


class BrokerError(A2AMqttError):
    """The embedded broker could not be started or stopped."""


class WorkerError(A2AMqttError):
    """Every worker process of ``serve_agents(..., workers=N)`` failed."""


class StoreError(A2AMqttError):
    """The task store cannot be used: its message says what is wrong and how to fix it."""


class DiscoveryError(A2AMqttError, LookupError):
    """An agent reference or query matched no usable agent."""
