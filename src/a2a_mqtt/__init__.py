"""a2a-mqtt: A2A (Agent2Agent) over MQTT 5, plugged into the official a2a-sdk."""

from a2a_mqtt._version import __version__

__all__ = ["__version__"]
