"""What a supervisor's run drivers use: the agent of each attempt, and the caller's replies.

``StepAgents`` is a part of :class:`~a2a_mqtt.workflows.supervisor.Supervisor` (and of
the in-process runner's host, ``runner.py``): it gets each attempt's agent (a
launcher's, or the step's selector resolved through discovery), tells launchers of
outcomes and routes their reports of dead agents to the run's driver, and publishes
replies on a caller's request topic.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Protocol

from a2a.client import Client
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.envelope import encode_result
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import DiscoveryError
from a2a_mqtt.transport.base import MqttTransport
from a2a_mqtt.workflows.launch import LaunchRequest, StepLauncher
from a2a_mqtt.workflows.leases import ReplyTarget

if TYPE_CHECKING:
    import asyncio

    from a2a_mqtt.workflows.driver import RunDriver

__all__ = ["AgentsConfig", "StepAgents"]

log = logging.getLogger("a2a_mqtt.workflows")


class AgentsConfig(Protocol):
    """The part of a host's configuration :class:`StepAgents` reads (a SupervisorConfig)."""

    @property
    def supervisor_id(self) -> str: ...

    @property
    def resolve_timeout(self) -> float: ...

    @property
    def launchers(self) -> tuple[StepLauncher, ...]: ...


class StepAgents:
    """Agents and replies for the host's drivers (state lives on the host)."""

    config: AgentsConfig
    mqtt: A2AMqttClient | None
    transport: MqttTransport | None
    drivers: dict[str, tuple[RunDriver, asyncio.Task[None]]]
    _clients: dict[str, Client]
    _launched: dict[str, tuple[StepLauncher, LaunchRequest]]
    _stopping: bool

    async def client_for(self, agent: str) -> Client:
        client = self._clients.get(agent)
        if client is None:
            assert self.mqtt is not None
            client = self.mqtt.client_for(await self.mqtt.resolve(
                agent, timeout=self.config.resolve_timeout))
            self._clients[agent] = client
        return client

    async def agent_for(self, request: LaunchRequest) -> str:
        """The agent an attempt goes to: a launcher's, or the selector resolved."""
        for launcher in self.config.launchers:
            if launcher.handles(request.step):
                agent = await launcher.launch(request)
                self._launched[request.task_id] = (launcher, request)
                return agent
        assert self.mqtt is not None
        assert request.step.agent is not None
        selector, timeout = request.step.agent, self.config.resolve_timeout
        if selector.spawn is not None:
            # A failed attempt (its retries and on_failure apply), never a random agent.
            raise DiscoveryError(f"step {request.step.name!r} runs in an ephemeral worker "
                                 "and this supervisor has no launcher for it")
        if selector.ref is not None:
            entry = await self.mqtt.resolve(selector.ref, timeout=timeout)
        elif selector.skill is not None:
            entry = await self.mqtt.find(skill=selector.skill, timeout=timeout)
        else:
            entry = await self.mqtt.find(tag=selector.tag, timeout=timeout)
        self._clients[str(entry.ref)] = self.mqtt.client_for(entry)
        return str(entry.ref)

    async def attempt_finished(self, run_id: str, task_id: str, outcome: str) -> None:
        launched = self._launched.pop(task_id, None)
        if launched is not None:
            try:
                await launched[0].finished(launched[1], outcome)
            except Exception:
                log.exception("launcher: finishing attempt %s failed", task_id)

    async def agent_died(self, task_id: str, reason: str) -> None:
        """A launcher's report: the attempt's agent died unfinished. Its owner (if that is
        still us) records the attempt failed at once; the write is fenced like any other."""
        launched = self._launched.get(task_id)
        if launched is None or self._stopping:
            return
        request = launched[1]
        entry = self.drivers.get(request.run_id)
        if entry is None:
            log.info("run %s: agent of attempt %s died; this supervisor no longer drives "
                     "the run", request.run_id, task_id)
            return
        log.warning("run %s step %s: %s", request.run_id, request.step.name, reason)
        entry[0].attempt_lost(request.step.name, task_id, reason)

    async def publish_item(self, target: ReplyTarget, item: Any, *, end: bool) -> bool:
        """One item of a caller's stream (its request's topic and Correlation Data)."""
        return await self.reply(target, MessageToDict(item), end=end)

    async def reply(self, target: ReplyTarget, result: Any, *, end: bool,
                    task_id: str | None = None) -> bool:
        """Publish one reply; False if the broker did not take it (retried by the caller)."""
        assert self.transport is not None
        props = P.reply_properties(correlation_data=target.correlation,
                                   responder_agent_id=self.config.supervisor_id,
                                   task_id=task_id, end=end)
        payload = encode_result(json.loads(target.request_id), result)
        try:
            await self.transport.publish(target.topic, payload, qos=1, properties=props)
        except Exception as exc:  # the log keeps the run: the item is sent again later
            log.warning("stream item to %s not delivered: %s", target.topic, exc)
            return False
        return True
