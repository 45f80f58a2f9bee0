"""The embedded Mosquitto broker used by tests, the demo, benchmarks and ``a2a-mqtt broker``.

``config`` renders a Mosquitto 2.0 config without I/O; ``process`` spawns and
supervises the ``mosquitto`` binary (which must be installed: it is not on PyPI);
``secure`` runs it TLS-only with identities and ACLs (``a2a-mqtt broker --secure``).
"""

from a2a_mqtt.broker.config import BrokerConfig, free_port, render_config
from a2a_mqtt.broker.process import (
    INSTALL_HINT,
    EmbeddedBroker,
    MosquittoProcess,
    find_mosquitto,
)
from a2a_mqtt.broker.secure import SecureBroker, SecureBrokerConfig

__all__ = [
    "INSTALL_HINT",
    "BrokerConfig",
    "EmbeddedBroker",
    "MosquittoProcess",
    "SecureBroker",
    "SecureBrokerConfig",
    "find_mosquitto",
    "free_port",
    "render_config",
]
