"""The subscription registry (what to re-subscribe, who receives a message) and
the SUBACK bookkeeping.

Invariants: one entry per topic filter (subscribing a filter again replaces its
handler and options, as MQTT replaces the subscription); entries keep
registration order, which is the order handlers run in; a ``$share/group/f``
subscription matches topics against ``f``. With overlapping subscriptions the
broker sends one copy per subscription (Mosquitto does), and each copy goes to
every matching handler, as the ``MqttTransport`` contract says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport.base import (
    IncomingMessage,
    MessageHandler,
    PublishProperties,
    Subscription,
)

__all__ = ["Entry", "Registry", "SubackTracker", "filter_matches", "match_filter"]

log = logging.getLogger("a2a_mqtt.transport")

_ROUTES_MAX: Final = 1024
"""Topics whose matching entries :class:`Registry` remembers."""


def match_filter(topic_filter: str) -> str:
    """The filter incoming topics are matched against (``$share`` prefix removed)."""
    if not topic_filter:
        raise ConfigError("a topic filter must not be empty")
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ConfigError(f"shared subscription {topic_filter!r} must be $share/group/filter")
        if "+" in parts[1] or "#" in parts[1]:
            raise ConfigError(f"share group in {topic_filter!r} must not contain wildcards")
        return parts[2]
    return topic_filter


def filter_matches(levels: tuple[str, ...], topic: str) -> bool:
    """Whether ``topic`` matches the filter split into ``levels``.

    The same answers as paho's ``topic_matches_sub`` (checked by the unit
    tests), without building a matcher tree per call: ``+`` is one level, ``#``
    the rest including the parent level, and wildcards at the first level never
    match topics starting with ``$`` (MQTT 5 section 4.7.2).
    """
    if topic.startswith("$") and levels[0] in ("+", "#"):
        return False
    parts = topic.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= len(parts) or (level != "+" and level != parts[i]):
            return False
    return len(parts) == len(levels)


@dataclass(frozen=True, slots=True)
class Entry:
    """A registered subscription and its handler."""

    subscription: Subscription
    handler: MessageHandler
    match: str
    shared: bool
    wildcard: bool
    levels: tuple[str, ...]

    @classmethod
    def create(cls, subscription: Subscription, handler: MessageHandler) -> Entry:
        """Validate ``subscription`` and precompute how it matches topics."""
        if subscription.qos not in (0, 1, 2):
            raise ConfigError(f"subscription QoS must be 0, 1 or 2, got {subscription.qos}")
        match = match_filter(subscription.topic_filter)
        return cls(
            subscription=subscription,
            handler=handler,
            match=match,
            shared=match != subscription.topic_filter,
            wildcard="+" in match or "#" in match,
            levels=tuple(match.split("/")),
        )

    def matches(self, topic: str, *, retain: bool) -> bool:
        """Whether a PUBLISH on ``topic`` belongs to this subscription.

        Retained messages never reach a ``$share`` subscription (MQTT 5
        section 4.8.2); Mosquitto before 2.0.13 sends them anyway, so they are
        filtered here.
        """
        if retain and self.shared:
            return False
        if not self.wildcard:
            return topic == self.match
        return filter_matches(self.levels, topic)


class Registry:
    """Topic filter -> :class:`Entry`, in registration order.

    Which entries a topic matches is cached per (topic, retain) until the next
    :meth:`add` or :meth:`discard` (a requester's replies, an agent's requests: a
    few topics, each matched again for every message); at most :data:`_ROUTES_MAX`
    topics are kept, then the cache starts afresh.
    """

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._routes: dict[tuple[str, bool], tuple[tuple[Entry, ...], bool]] = {}

    def add(self, entry: Entry) -> None:
        """Register (or replace) the subscription for ``entry``'s filter."""
        self._entries.pop(entry.subscription.topic_filter, None)
        self._entries[entry.subscription.topic_filter] = entry
        self._routes.clear()

    def discard(self, topic_filter: str, entry: Entry | None = None) -> Entry | None:
        """Remove the filter (only if it still maps to ``entry``, when given)."""
        current = self._entries.get(topic_filter)
        if current is None or (entry is not None and current is not entry):
            return None
        del self._entries[topic_filter]
        self._routes.clear()
        return current

    def entries(self) -> list[Entry]:
        """All entries, in registration order."""
        return list(self._entries.values())

    def matching(self, topic: str, *, retain: bool) -> list[Entry]:
        """Entries whose filter matches ``topic``, in registration order."""
        return list(self._route(topic, retain)[0])

    def _route(self, topic: str, retain: bool) -> tuple[tuple[Entry, ...], bool]:
        """The matching entries and whether any of them acknowledges manually."""
        key = (topic, retain)
        route = self._routes.get(key)
        if route is None:
            entries = tuple(e for e in self._entries.values() if e.matches(topic, retain=retain))
            route = (entries, any(e.subscription.manual_ack for e in entries))
            if len(self._routes) >= _ROUTES_MAX:
                self._routes.clear()
            self._routes[key] = route
        return route

    def deliver(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        properties: PublishProperties,
        make_ack: Callable[[], Callable[[], None]],
    ) -> bool:
        """Run every matching handler on the message, in registration order.

        Handlers of ``manual_ack`` subscriptions get a message carrying
        ``make_ack()``; the others get one with ``ack=None``. A handler that
        raises is logged and the others still run. Returns whether a manual ack
        is now owed (the caller acks at once otherwise).
        """
        entries, manual = self._route(topic, retain)
        # Built once each, and only when some handler takes it.
        with_ack = plain = None
        for entry in entries:
            if entry.subscription.manual_ack:
                if with_ack is None:
                    with_ack = IncomingMessage(topic, payload, qos, retain, properties, make_ack())
                message = with_ack
            else:
                if plain is None:
                    plain = IncomingMessage(topic, payload, qos, retain, properties)
                message = plain
            try:
                entry.handler(message)
            except Exception:
                log.exception("handler for %r failed on %r", entry.subscription.topic_filter, topic)
        return manual

    def __contains__(self, topic_filter: object) -> bool:
        return topic_filter in self._entries

    def __len__(self) -> int:
        return len(self._entries)


class SubackTracker:
    """Who waits for which filter's SUBACK, and which filters each SUBSCRIBE carried.

    Waiting is per filter, not per packet: a ``subscribe()`` caller whose
    SUBSCRIBE died with the connection is answered by the re-SUBSCRIBE that the
    next CONNACK sends for every registered filter.
    """

    def __init__(self) -> None:
        self._sent: dict[int, list[str]] = {}
        self._waiters: dict[str, list[asyncio.Future[int]]] = {}

    def sent(self, mid: int, filters: list[str]) -> None:
        """Record that SUBSCRIBE ``mid`` carried ``filters`` (in order)."""
        self._sent[mid] = filters

    def waiter(self, topic_filter: str) -> asyncio.Future[int]:
        """A future resolved with the reason code of the next SUBACK for the filter."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(topic_filter, []).append(fut)
        return fut

    def forget(self, topic_filter: str, fut: asyncio.Future[int]) -> None:
        """Stop tracking ``fut`` (and cancel it if nobody resolved it)."""
        fut.cancel()
        waiters = self._waiters.get(topic_filter)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(fut)
            if not waiters:
                del self._waiters[topic_filter]

    def suback(self, mid: int, codes: list[int]) -> list[tuple[str, int, bool]]:
        """Resolve waiters; return ``(filter, code, somebody_waited)`` per filter."""
        filters = self._sent.pop(mid, None)
        if filters is None:
            return []
        out = []
        for topic_filter, code in zip(filters, codes, strict=False):
            waiters = self._waiters.get(topic_filter, [])
            for fut in waiters:
                if not fut.done():
                    fut.set_result(code)
            out.append((topic_filter, code, bool(waiters)))
        return out

    def connection_lost(self) -> None:
        """Packet ids of unanswered SUBSCRIBEs die with the connection."""
        self._sent.clear()

    def fail(self, error: Exception) -> None:
        """Fail every waiter (the transport is closing)."""
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(error)
        self._sent.clear()
