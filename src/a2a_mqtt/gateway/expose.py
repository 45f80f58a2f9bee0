"""ExposeHost: HTTP A2A agents joining the MQTT fleet (``a2a-mqtt gateway expose``).

For each configured agent it fetches the Agent Card with a2a-sdk's card
resolver, and serves it with an ordinary :class:`AgentServer`: the card is
published retained on the agent's discovery topic with the MQTT interface and
routing extension added (its HTTP interfaces kept), the will marks it offline,
and every request is run by :class:`HttpForwardExecutor`, which calls the HTTP
agent with a2a-sdk's own ``Client``. Several agents share one process and one
HTTP connection pool; each has its own MQTT session, as native agents do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack

import httpx
from a2a.client import Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.client.card_resolver import A2ACardResolver
from a2a.types.a2a_pb2 import AgentCard, GetExtendedAgentCardRequest
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import A2AError

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.gateway.expose_config import ExposeConfig, ExposedAgent
from a2a_mqtt.gateway.forward import HttpForwardExecutor
from a2a_mqtt.server.agent import AgentServer, TransportFactory
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.server.host import AgentHost
from a2a_mqtt.service import BaseServer

__all__ = ["ExposeHost"]

log = logging.getLogger("a2a_mqtt.gateway.expose")

_HTTP_BINDINGS = [TransportProtocol.JSONRPC.value, TransportProtocol.HTTP_JSON.value]


class ExposeHost(BaseServer):
    """Serves every agent of an :class:`ExposeConfig` on MQTT; an async context manager
    (reusable, not reentrant)."""

    def __init__(self, config: ExposeConfig, *,
                 transport_factory: TransportFactory | None = None) -> None:
        self.config = config
        self._factory = transport_factory
        self._http: httpx.AsyncClient | None = None
        self._host: AgentHost | None = None

    @property
    def host(self) -> AgentHost:
        """The agent host (its ``metrics``, ``health`` and ``metrics_url``)."""
        if self._host is None:
            raise RuntimeError("ExposeHost is not running")
        return self._host

    @property
    def servers(self) -> Sequence[AgentServer]:
        """The MQTT faces, in configuration order (``.card`` is the published card)."""
        if self._host is None:
            raise RuntimeError("ExposeHost is not running")
        return self._host.servers

    async def _start(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        stack.callback(self._forget)  # runs last: host and servers then say "not running"
        self._http = http = httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.http_timeout, read=cfg.stream_timeout),
            headers={"A2A-Version": "1.0"})
        stack.push_async_callback(http.aclose)
        configs = await asyncio.gather(*(self._agent_config(a) for a in cfg.agents))
        self._host = await stack.enter_async_context(AgentHost(
            configs, transport_factory=self._factory, observability=cfg.observability))

    def _forget(self) -> None:
        self._host = self._http = None

    async def _agent_config(self, agent: ExposedAgent) -> AgentConfig:
        assert self._http is not None
        headers = dict(agent.headers)
        resolver = A2ACardResolver(self._http, agent.url, agent.card_path)
        try:
            card = await resolver.get_agent_card(http_kwargs={"headers": headers})
        except A2AError as exc:
            raise ConfigError(f"cannot expose {agent.url} as {agent.ref}: fetching its card "
                              f"failed: {exc}") from exc
        factory = ClientFactory(ClientConfig(httpx_client=self._http, streaming=True,
                                             supported_protocol_bindings=list(_HTTP_BINDINGS)))
        try:
            client = factory.create(card)
        except ValueError as exc:
            raise ConfigError(f"cannot expose {agent.url}: its card offers no JSON-RPC or "
                              f"HTTP+JSON interface ({exc})") from exc
        extended = await self._extended_card(agent, card, client, headers)
        executor = HttpForwardExecutor(client=client, name=agent.url, headers=headers)
        cfg = self.config
        log.info("exposing %s (%s) as %s", agent.url, card.name, agent.ref)
        return AgentConfig(ref=agent.ref, card=card, executor=executor,
                           connection=cfg.connection, extended_card=extended,
                           session_expiry=cfg.session_expiry, tracing=cfg.tracing)

    @staticmethod
    async def _extended_card(agent: ExposedAgent, card: AgentCard, client: Client,
                             headers: dict[str, str]) -> AgentCard | None:
        """The agent's extended card, fetched once with the configured headers."""
        if not card.capabilities.extended_agent_card:
            return None
        try:
            return await client.get_extended_agent_card(
                GetExtendedAgentCardRequest(),
                context=ClientCallContext(service_parameters=headers))
        except A2AError as exc:
            log.warning("%s declares an extended card but it could not be fetched (%s); "
                        "publishing without it", agent.url, exc)
            card.capabilities.extended_agent_card = False
            return None
