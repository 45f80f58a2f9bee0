"""The web console: watch the fleet, inspect any agent, talk to it (docs/dashboard.md)."""

from __future__ import annotations

from a2a_mqtt.dashboard.config import DEFAULT_PORT, DashboardConfig
from a2a_mqtt.dashboard.server import DashboardError, DashboardServer

__all__ = ["DEFAULT_PORT", "DashboardConfig", "DashboardError", "DashboardServer"]
