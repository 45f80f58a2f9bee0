"""Discovery: the live directory of agents built from retained Agent Cards.

Subscribing to the discovery namespace replays every retained card; a
round-trip barrier on the same connection (MQTT keeps per-connection order)
tells when the replay is complete, so :meth:`Discovery.start` returns with a
full directory. Later publishes (new cards, updates, ``a2a-status=offline``
from a will or a graceful stop, empty payloads that delete a card) update it
and are offered to :meth:`watch` iterators as :class:`DiscoveryEvent`.

Cards are parsed leniently so agents of other implementations stay usable;
what the A2A 1.0 schema would reject is listed in ``AgentEntry.problems``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import card_problems, parse_card
from a2a_mqtt.binding.directory import AgentEntry, DiscoveryEvent, EventKind
from a2a_mqtt.binding.topics import AgentRef, discovery_filters, parse_discovery_topic
from a2a_mqtt.client.requester import Requester
from a2a_mqtt.errors import DiscoveryError, InvalidCardError
from a2a_mqtt.mqtt_types import IncomingMessage, Subscription

if TYPE_CHECKING:
    from a2a_mqtt.security.cards import CardPolicy

__all__ = ["AgentEntry", "Discovery", "DiscoveryEvent", "Watch"]

log = logging.getLogger("a2a_mqtt.discovery")

_MAX_CARD_BYTES: Final = 256 * 1024


class Watch:
    """An async iterator of :class:`DiscoveryEvent`; registered from creation until closed."""

    def __init__(self, registry: set[asyncio.Queue[DiscoveryEvent]]) -> None:
        self.queue: asyncio.Queue[DiscoveryEvent] = asyncio.Queue()
        self._registry = registry
        registry.add(self.queue)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> DiscoveryEvent:
        if self.queue not in self._registry and self.queue.empty():
            raise StopAsyncIteration
        return await self.queue.get()

    async def aclose(self) -> None:
        self._registry.discard(self.queue)

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Discovery:
    """The directory of agents visible through one requester's connection."""

    def __init__(self, requester: Requester, *, org: str | None = None,
                 unit: str | None = None) -> None:
        self._requester = requester
        self._filters = discovery_filters(org, unit)
        self._entries: dict[AgentRef, AgentEntry] = {}
        self._watchers: set[asyncio.Queue[DiscoveryEvent]] = set()
        self._changed = asyncio.Event()
        self._started = False

    async def start(self, timeout: float = 30.0) -> None:
        """Subscribe and return once every retained card has been read."""
        if self._started:
            return
        self._started = True
        for topic_filter in self._filters:
            await self._requester.transport.subscribe(Subscription(topic_filter, qos=1),
                                                      self._on_card)
        await self._requester.barrier(timeout)

    def entries(self) -> list[AgentEntry]:
        return sorted(self._entries.values(), key=lambda e: e.ref)

    def list(self, *, org: str | None = None, unit: str | None = None,
             skill: str | None = None, tag: str | None = None, name: str | None = None,
             online: bool | None = None) -> list[AgentEntry]:
        """Known agents passing every filter, ordered by reference."""
        return [e for e in self.entries() if e.card is not None and e.matches(
            org=org, unit=unit, skill=skill, tag=tag, name=name, online=online)]

    def get(self, ref: AgentRef | str) -> AgentEntry | None:
        return self._entries.get(AgentRef.parse(ref) if isinstance(ref, str) else ref)

    async def resolve(self, ref: AgentRef | str, *, timeout: float = 5.0) -> AgentEntry:
        """The entry for ``ref``, waiting up to ``timeout`` for its card to appear."""
        target = AgentRef.parse(ref) if isinstance(ref, str) else ref
        return await self._wait(lambda: self._usable([self._entries.get(target)]),
                                f"no usable agent card for {target}", timeout)

    async def find(self, *, skill: str | None = None, tag: str | None = None,
                   name: str | None = None, org: str | None = None, unit: str | None = None,
                   timeout: float = 5.0) -> AgentEntry:
        """The first online agent matching the query (waiting up to ``timeout``)."""
        def pick() -> AgentEntry | None:
            return self._usable(self.list(org=org, unit=unit, skill=skill, tag=tag, name=name,
                                          online=True))
        what = ", ".join(f"{k}={v}" for k, v in (("skill", skill), ("tag", tag), ("name", name),
                                                   ("org", org), ("unit", unit)) if v)
        return await self._wait(pick, f"no online agent matches {what or 'the query'}", timeout)

    @staticmethod
    def _usable(entries: Iterable[AgentEntry | None]) -> AgentEntry | None:
        return next((e for e in entries if e is not None and e.card is not None), None)

    async def _wait(self, pick: object, error: str, timeout: float) -> AgentEntry:
        assert callable(pick)
        try:
            async with asyncio.timeout(timeout):
                while (found := pick()) is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise DiscoveryError(error) from None
        assert isinstance(found, AgentEntry)
        return found

    def watch(self, *, include_existing: bool = True) -> Watch:
        """Every change from this call on (first the current entries, as ``added``).

        Registration happens here, not at the first ``anext``, so no change
        between this call and the first read is missed. Close it with
        ``aclose()`` (or ``async with``) when done.
        """
        watch = Watch(self._watchers)
        if include_existing:
            for entry in self.entries():
                watch.queue.put_nowait(DiscoveryEvent("added", entry))
        return watch

    def _emit(self, kind: EventKind, entry: AgentEntry) -> None:
        self._changed.set()
        for queue in self._watchers:
            queue.put_nowait(DiscoveryEvent(kind, entry))

    def _on_card(self, msg: IncomingMessage) -> None:
        ref = parse_discovery_topic(msg.topic)
        if ref is None:
            log.debug("ignoring card on unparseable topic %s", msg.topic)
            return
        previous = self._entries.get(ref)
        if not msg.payload:
            if previous is not None:
                del self._entries[ref]
                self._emit("removed", previous)
            return
        status, source = P.status_of(msg.properties)
        card, problems = self._decode(msg.payload, self._requester.config.card_policy)
        entry = AgentEntry(ref=ref, card=card, status=status, status_source=source,
                           problems=problems)
        if (previous is not None and previous.card == card and previous.status == status
                and previous.status_source == source):
            return  # a refresh that changes nothing is not news
        self._entries[ref] = entry
        if card is None:
            self._emit("invalid", entry)
        elif previous is None or previous.card is None:
            self._emit("added", entry)
        elif previous.status != status:
            self._emit("online" if entry.online else "offline", entry)
        else:
            self._emit("updated", entry)

    @staticmethod
    def _decode(payload: bytes, policy: CardPolicy | None = None
                ) -> tuple[AgentCard | None, tuple[str, ...]]:
        if len(payload) > _MAX_CARD_BYTES:
            return None, (f"card payload of {len(payload)} bytes exceeds {_MAX_CARD_BYTES}",)
        try:
            data = json.loads(payload.decode("utf-8"))
        except ValueError as exc:
            return None, (f"card payload is not UTF-8 JSON: {exc}",)
        try:
            card = parse_card(data, validate=False)
        except InvalidCardError as exc:
            return None, (str(exc),)
        problems = tuple(card_problems(data))
        if policy is not None and policy.mode != "off":
            check = policy.check(data)
            if not check.verified:
                unverified = tuple(f"signature: {r}" for r in check.reasons)
                if policy.mode == "require":
                    return None, unverified  # an untrusted card is not usable at all
                problems += unverified
        return card, problems
