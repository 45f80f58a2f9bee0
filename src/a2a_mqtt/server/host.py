"""AgentHost: many agents in one process, each with its own MQTT session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack

from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.factory import make_metrics
from a2a_mqtt.observability.health import Health
from a2a_mqtt.server.agent import AgentServer, TransportFactory
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.service import BaseServer

__all__ = ["AgentHost", "serve_agents"]


class AgentHost(BaseServer):
    """Starts and stops a set of agents together (each keeps its own Client ID and will):
    the server of many ``AgentConfig`` at once (reusable, not reentrant)."""

    def __init__(self, configs: Iterable[AgentConfig], *,
                 transport_factory: TransportFactory | None = None,
                 observability: ObservabilityConfig | None = None,
                 instance: str = "") -> None:
        """``instance``: the metrics' ``service.instance.id`` (set for worker processes)."""
        obs = observability or ObservabilityConfig()
        self.observability = obs
        self.metrics = make_metrics(service="agent", config=obs, instance=instance)
        """The agents' shared instruments (None: metrics off)."""
        self.health = Health(service="agent", metrics=self.metrics)
        self.servers: Sequence[AgentServer] = [
            AgentServer(c, transport_factory=transport_factory, metrics=self.metrics,
                        health=self.health) for c in configs]
        self.metrics_url = ""
        """``http://host:port`` of ``/metrics``, ``/healthz``, ``/readyz`` when served."""

    async def _start(self, stack: AsyncExitStack) -> None:
        if self.metrics is not None:
            stack.callback(self.metrics.shutdown)
        obs = self.observability
        if obs.http_port is not None:
            from a2a_mqtt.observability.http import (  # noqa: PLC0415 - needs uvicorn
                ObservabilityServer,
                ObservedApp,
            )

            # Before the agents: /healthz answers (and /readyz says 503) during start-up.
            served = await stack.enter_async_context(ObservabilityServer(
                ObservedApp(service="agent", health=self.health, metrics=self.metrics),
                host=obs.http_host, port=obs.http_port, name="a2a-mqtt-agents.metrics"))
            self.metrics_url = served.url
        # Every agent stops, concurrently, whether all of them started or some failed.
        stack.push_async_callback(self._stop_servers)
        # Started concurrently: a host of hundreds of agents should not connect serially.
        # One failing start fails the host: the others' starts are cancelled (each undoes
        # itself), and the first error is raised as it came (not in an ExceptionGroup).
        starts = [asyncio.create_task(s.start(), name=f"a2a-mqtt-agents.start:{s.config.ref}")
                  for s in self.servers]
        try:
            await asyncio.gather(*starts)
        except BaseException:
            for task in starts:
                task.cancel()
            await asyncio.gather(*starts, return_exceptions=True)
            raise

    async def _stop_servers(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)


async def serve_agents(configs: Iterable[AgentConfig], *,
                       stop: asyncio.Event | None = None,
                       observability: ObservabilityConfig | None = None,
                       workers: int = 1, worker_dispatch: str = "auto") -> None:
    """Run agents until ``stop`` is set or SIGINT/SIGTERM arrives, then stop them gracefully
    (``AgentHost(configs, observability=...).serve(stop)``). ``workers > 1``: as many
    forked processes serve the same agents, sharing their requests as ``worker_dispatch``
    says (``auto``, ``partition``, ``claim`` or ``shared``; a2a_mqtt.server.workers),
    behind one card held by this process; they need a shared task store (``memory://``
    is refused)."""
    if workers != 1:
        from a2a_mqtt.server.workers import WorkerSupervisor  # noqa: PLC0415

        await WorkerSupervisor(list(configs), workers=workers, dispatch=worker_dispatch,
                               observability=observability).serve(stop)
        return
    await AgentHost(configs, observability=observability).serve(stop)
