"""What a run's driver needs from the process that holds the run (``RunHost``).

:class:`~a2a_mqtt.workflows.driver.RunDriver` (with its log and its attempts) is
the one loop that runs a workflow. Two hosts give it what it needs:
:class:`~a2a_mqtt.workflows.supervisor.Supervisor` (a shared database, leases
renewed and taken over, the caller's stream over MQTT) and
:class:`~a2a_mqtt.workflows.runner.WorkflowRunner` (one process, the given store
or the log in memory, no caller stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from a2a.client import Client

    from a2a_mqtt.workflows.launch import LaunchRequest
    from a2a_mqtt.workflows.leases import ReplyTarget
    from a2a_mqtt.workflows.model import Workflow
    from a2a_mqtt.workflows.state import Event

__all__ = ["RunHost", "RunReader", "RunWriter"]


class RunReader(Protocol):
    """Reading a run back (:class:`~a2a_mqtt.workflows.store.RunStore`)."""

    async def run_row(self, run_id: str) -> Any:
        """The run's row (``workflow``, ``reply_*``), or None."""
        ...

    async def events_after(self, run_id: str, seq: int) -> list[Event]:
        """The logged events after position ``seq``, in order."""
        ...


class RunWriter(Protocol):
    """The owner's writes (:class:`~a2a_mqtt.workflows.leases.Leases`: fenced)."""

    async def append_many(self, run_id: str, epoch: int, first: int, items: list[Event], *,
                          status: str, error: str | None, reply: ReplyTarget | None = None,
                          streamed: int | None = None) -> None:
        """Append at ``first``, ``first + 1``, ...; raises Fenced or SeqTaken."""
        ...

    async def mark_streamed(self, run_id: str, target: ReplyTarget, seq: int, *,
                            ended: bool) -> None:
        """Events up to ``seq`` went to the caller's stream ``target``."""
        ...


class RunHost(Protocol):
    """The run's database, its agents and the caller's stream, as a driver uses them."""

    @property
    def store(self) -> RunReader:
        """The run log (read on load and reload)."""
        ...

    @property
    def leases(self) -> RunWriter:
        """The writes of the run's owner (this host)."""
        ...

    @property
    def workflows(self) -> Mapping[str, Workflow]:
        """The definitions by name (a run read back is folded with its own)."""
        ...

    async def agent_for(self, request: LaunchRequest) -> str:
        """The agent a new attempt goes to (a launcher's, or the selector resolved)."""
        ...

    async def client_for(self, agent: str) -> Client:
        """A client for the agent an attempt was sent to."""
        ...

    async def attempt_finished(self, run_id: str, task_id: str, outcome: str) -> None:
        """An attempt has its outcome: its launcher (if any) releases its agent."""
        ...

    async def publish_item(self, target: ReplyTarget, item: Any, *, end: bool) -> bool:
        """One item of the caller's stream; False if it was not delivered."""
        ...
