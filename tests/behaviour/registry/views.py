"""Two independent views of the discovery namespace, for comparing them card for card.

* :func:`retained_snapshot`: what the broker retains, read by a fresh plain MQTT
  session (the retained replay, closed by a barrier message of its own);
* :func:`registry_view`: what a registry answers over its HTTP API (every page
  of ``/agents`` and ``/rejected``, and the exact bytes of ``/cards/{ref}``).

Also used by ``bench/fuzz_registry.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef, discovery_filters, discovery_topic
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, Subscription
from a2a_mqtt.transport.base import BrokerURL, IncomingMessage

__all__ = ["RegistryView", "registry_view", "retained_snapshot"]


async def retained_snapshot(url: str, *, timeout: float = 60.0
                            ) -> dict[str, tuple[bytes, str | None, str | None]]:
    """``{topic: (payload, a2a-status, a2a-status-source)}`` of every retained discovery
    message, as a new subscriber receives them."""
    found: dict[str, tuple[bytes, str | None, str | None]] = {}
    done = asyncio.get_running_loop().create_future()
    barrier = f"test/snapshot/{uuid.uuid4().hex}"

    def on_card(msg: IncomingMessage) -> None:
        assert msg.retain, f"a live message arrived during the snapshot: {msg.topic}"
        found[msg.topic] = (msg.payload, msg.properties.user_property(P.STATUS),
                            msg.properties.user_property(P.STATUS_SOURCE))

    def on_barrier(msg: IncomingMessage) -> None:
        if not done.done():
            done.set_result(None)

    options = ConnectOptions(url=BrokerURL.parse(url), client_id=f"snap-{uuid.uuid4().hex[:8]}",
                             ack_timeout=timeout)
    async with Mqtt5Transport(options) as transport:
        await transport.subscribe(Subscription(barrier, qos=1), on_barrier)
        for topic_filter in discovery_filters():
            await transport.subscribe(Subscription(topic_filter, qos=1), on_card)
        await transport.publish(barrier, b"", qos=1)
        async with asyncio.timeout(timeout):
            await done
    return found


@dataclass
class RegistryView:
    entries: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    """discovery topic -> (card bytes as served by /cards, status, statusSource)"""
    rejected: dict[str, list[str]] = field(default_factory=dict)
    """topic -> reasons"""
    statuses: dict[int, int] = field(default_factory=dict)
    """HTTP status -> count, over every request made"""


async def _pages(http: httpx.AsyncClient, path: str, view: RegistryView,
                 params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await http.get(path, params={**params, **({"cursor": cursor} if cursor
                                                              else {})})
        view.statuses[response.status_code] = view.statuses.get(response.status_code, 0) + 1
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items


async def registry_view(base_url: str, *, concurrency: int = 16) -> RegistryView:
    """Everything the registry at ``base_url`` answers about its index."""
    view = RegistryView()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for item in await _pages(http, "/agents", view, {"limit": 500, "card": "false"}):
            ref = AgentRef.parse(item["ref"])
            view.entries[discovery_topic(ref)] = (b"", item["status"], item["statusSource"])
        for item in await _pages(http, "/rejected", view, {"limit": 500}):
            view.rejected[item["topic"]] = item["reasons"]
        gate = asyncio.Semaphore(concurrency)

        async def card(topic: str) -> None:
            ref = topic.removeprefix("$a2a/v1/discovery/")
            async with gate:
                response = await http.get(f"/cards/{ref}")
            view.statuses[response.status_code] = view.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                _, status, source = view.entries[topic]
                view.entries[topic] = (response.content, status, source)

        await asyncio.gather(*(card(topic) for topic in list(view.entries)))
    return view
