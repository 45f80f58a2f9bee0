"""a2a-mqtt: A2A (Agent2Agent) over MQTT 5, plugged into the official a2a-sdk.

Importing this package changes nothing in the process (no environment
variable is written); start-up decisions live in a2a_mqtt/telemetry.py.
"""

from a2a_mqtt._version import __version__

__all__ = ["__version__"]
