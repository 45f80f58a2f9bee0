"""The registry's exceptions, under the package's one tree (``a2a_mqtt.errors``).

::

    A2AMqttError
    └── RegistryError            the registry could not do what was asked
        ├── QueryError           a malformed query (HTTP 400, A2A: task rejected)
        └── RegistryClientError  a registry answered an HTTP client with an error
"""

from __future__ import annotations

from a2a_mqtt.errors import A2AMqttError

__all__ = ["QueryError", "RegistryClientError", "RegistryError"]


class RegistryError(A2AMqttError):
    """The registry (service or client) could not do what was asked."""


class QueryError(RegistryError, ValueError):
    """A query parameter is unknown, repeated, empty or malformed."""


class RegistryClientError(RegistryError):
    """A registry answered with an error status; ``status`` is the HTTP status code."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
