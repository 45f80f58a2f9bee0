"""The registry: a broker-neutral index of every Agent Card, over HTTP and A2A.

``RegistryConfig`` -> ``RegistryServer(config)`` -> ``serve()`` (or
``a2a_mqtt.run(config)``); clients read it with ``RegistryClient``. See docs/registry.md.

Names resolve lazily (PEP 562), so ``RegistryClient`` works in a client install
without the ``registry`` extra (the server side needs it: HTTP, uvicorn).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a2a_mqtt.registry.client import RegistryClient, entry_from_json
    from a2a_mqtt.registry.config import RegistryConfig, StalePolicy
    from a2a_mqtt.registry.entry import Change, Entry, Rejection
    from a2a_mqtt.registry.errors import QueryError, RegistryClientError, RegistryError
    from a2a_mqtt.registry.index import Page, RegistryIndex
    from a2a_mqtt.registry.query import Query
    from a2a_mqtt.registry.server import RegistryServer
    from a2a_mqtt.registry.service import RegistryService

_EXPORTS: dict[str, str] = {
    "Change": "entry", "Entry": "entry", "Rejection": "entry",
    "Page": "index", "RegistryIndex": "index",
    "Query": "query",
    "QueryError": "errors", "RegistryClientError": "errors", "RegistryError": "errors",
    "RegistryClient": "client", "entry_from_json": "client",
    "RegistryConfig": "config", "StalePolicy": "config",
    "RegistryServer": "server",
    "RegistryService": "service",
}

__all__ = [
    "Change",
    "Entry",
    "Page",
    "Query",
    "QueryError",
    "RegistryClient",
    "RegistryClientError",
    "RegistryConfig",
    "RegistryError",
    "RegistryIndex",
    "RegistryServer",
    "RegistryService",
    "Rejection",
    "StalePolicy",
    "entry_from_json",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'a2a_mqtt.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"a2a_mqtt.registry.{module}"), name)
    globals()[name] = value
    return value
