"""A supervisor's configuration and presence topic (the service shape: Config -> Server)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from a2a_mqtt.binding.topics import PREFIX, AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.workflows.launch import StepLauncher
from a2a_mqtt.workflows.model import Workflow

if TYPE_CHECKING:
    from a2a_mqtt.workflows.supervisor import Supervisor

__all__ = ["SupervisorConfig", "presence_topic"]


def presence_topic(supervisor_id: str) -> str:
    """Retained presence of one supervisor; its Last Will marks it offline."""
    return f"{PREFIX}/workflow/supervisor/{supervisor_id}"


@dataclass(frozen=True, kw_only=True)
class SupervisorConfig:
    """One supervisor process serving ``workflows`` as agents ``org/unit/<name>``."""

    workflows: tuple[Workflow, ...]
    database_url: str
    """``sqlite:///FILE`` (one host) or ``postgresql://...`` (several hosts)."""
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    org: str = "workflows"
    unit: str = "default"
    supervisor_id: str = field(default_factory=lambda: f"sup-{uuid.uuid4().hex[:8]}")
    """Stable across restarts if requests queued while it is down should reach it."""
    lease_ttl: float = 15.0
    """Seconds a run's lease lasts unless renewed (renewed every third of it)."""
    poll_interval: float = 0.5
    """Seconds between an owner's reads of inputs other supervisors appended."""
    session_expiry: int = 3600
    resolve_timeout: float = 5.0
    stream_idle_timeout: float = 30.0
    """How long a step's stream may stay silent before it is reconciled (re-sent)."""
    launchers: tuple[StepLauncher, ...] = ()
    """Provide the agent for the steps they handle (workflows/launch.py)."""
    claim_grace: float = 2.0
    """Seconds a supervisor leaves a request to the supervisor designated for it (the
    others' copies wait unclaimed; after this they are checked and, if nobody holds
    them, claimed). A dead designated supervisor's Will cuts the wait short."""
    max_runs: int = 0
    """Runs this supervisor starts and drives at once (0: no limit). A request for a new
    run waits unclaimed while it is full, so a supervisor with room takes it; runs taken
    over from a dead supervisor are never refused."""

    def ref(self, workflow: Workflow) -> AgentRef:
        return AgentRef(self.org, self.unit, workflow.name)

    def server(self) -> Supervisor:
        """The service shape (a2a_mqtt.service): ``run(config)`` serves this."""
        from a2a_mqtt.workflows.supervisor import Supervisor  # noqa: PLC0415

        return Supervisor(self)
