"""Finding Mosquitto's dynamic-security plugin (shipped with Mosquitto 2.0+)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from a2a_mqtt.errors import BrokerError

__all__ = ["DYNSEC_PLUGIN", "find_dynsec_plugin"]

DYNSEC_PLUGIN: Final = "mosquitto_dynamic_security.so"
_PLUGIN_DIRS: Final = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                       "/usr/lib", "/usr/local/lib", "/usr/lib/mosquitto",
                       "/opt/homebrew/lib", "/usr/local/opt/mosquitto/lib")


def find_dynsec_plugin(explicit: Path | None = None) -> Path:
    """The dynamic-security plugin's path, or :class:`BrokerError` saying where we looked."""
    if explicit is not None:
        if explicit.is_file():
            return explicit
        raise BrokerError(f"dynamic-security plugin {explicit} not found")
    for directory in _PLUGIN_DIRS:
        candidate = Path(directory) / DYNSEC_PLUGIN
        if candidate.is_file():
            return candidate
    raise BrokerError(f"{DYNSEC_PLUGIN} not found in {', '.join(_PLUGIN_DIRS)}; it ships "
                      "with Mosquitto 2.0+ (Debian: package mosquitto)")
