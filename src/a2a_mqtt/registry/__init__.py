"""The registry: a broker-neutral index of every Agent Card, over HTTP and A2A.

``RegistryConfig`` -> ``RegistryServer(config)`` -> ``serve()`` (or
``a2a_mqtt.run(config)``); clients read it with ``RegistryClient``. See docs/registry.md.
"""

from a2a_mqtt.registry.client import RegistryClient, entry_from_json
from a2a_mqtt.registry.config import RegistryConfig, StalePolicy
from a2a_mqtt.registry.entry import Change, Entry, Rejection
from a2a_mqtt.registry.errors import QueryError, RegistryClientError, RegistryError
from a2a_mqtt.registry.index import Page, RegistryIndex
from a2a_mqtt.registry.query import Query
from a2a_mqtt.registry.server import RegistryServer
from a2a_mqtt.registry.service import RegistryService

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
