"""One change feed from the registry, fanned out to every open browser.

:class:`FeedHub` reads the registry's ``GET /events`` (SSE) on one
connection, reconnecting with the last event id when it breaks, and offers
each event to every subscriber's bounded queue. A browser that falls
``queue_size`` events behind gets a ``resync`` and is dropped; it reconnects
and re-reads its page. A browser that disconnects is removed by its stream's
``finally`` (see :func:`subscriber_frames`), so nothing accumulates.

It also answers "did this agent go offline?" (:meth:`offline_event`) for
calls in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx

from a2a_mqtt.binding.topics import AgentRef

__all__ = ["FeedHub", "SseEvent", "parse_sse"]

log = logging.getLogger("a2a_mqtt.dashboard")

_RETRY: Final = (0.2, 0.5, 1.0, 2.0, 5.0)
SseEvent = tuple[str, str | None, str]
"""(event name, id, data)"""


def parse_sse(lines: list[str]) -> SseEvent | None:
    """One SSE frame (its lines, without the blank line) as (event, id, data); None for a
    comment-only frame."""
    event, event_id, data = "message", None, []
    for line in lines:
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
    if not data and event == "message":
        return None
    return event, event_id, "\n".join(data)


class _Subscriber:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[SseEvent] = asyncio.Queue(size + 1)
        self.size = size
        self.dropped = False

    def offer(self, item: SseEvent) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= self.size:
            self.dropped = True
            self.queue.put_nowait(("resync", None, json.dumps(
                {"message": "this page fell behind the fleet feed: re-read the list"})))
            return
        self.queue.put_nowait(item)


class FeedHub:
    """Reads the registry's change feed once; browsers and calls listen to it."""

    def __init__(self, registry_url: str, *, token: str | None = None,
                 queue_size: int = 1000) -> None:
        self.registry_url = registry_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._subscribers: set[_Subscriber] = set()
        self._offline: dict[str, list[asyncio.Event]] = {}
        self._queue_size = queue_size
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.events = 0
        self._last_id: str | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def run(self) -> None:
        """Follow the feed until cancelled; reconnect with backoff when it breaks."""
        attempt = 0
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as http:
            while True:
                try:
                    await self._follow(http)
                    attempt = 0
                except (httpx.HTTPError, OSError) as exc:
                    log.warning("dashboard: registry feed broke (%s); reconnecting", exc)
                if self.connected.is_set():
                    self.connected.clear()
                    self._state(False)
                await asyncio.sleep(_RETRY[min(attempt, len(_RETRY) - 1)])
                attempt += 1

    async def _follow(self, http: httpx.AsyncClient) -> None:
        headers = dict(self._headers)
        if self._last_id:
            headers["Last-Event-ID"] = self._last_id
        async with http.stream("GET", f"{self.registry_url}/events", headers=headers) as resp:
            resp.raise_for_status()
            self.connected.set()
            self._state(True)
            frame: list[str] = []
            async for line in resp.aiter_lines():
                if line:
                    frame.append(line)
                    continue
                parsed = parse_sse(frame)
                frame = []
                if parsed is not None:
                    self._dispatch(parsed)

    def _state(self, up: bool) -> None:
        """Tell every page whether the registry's feed is flowing (``feed`` event)."""
        event: SseEvent = ("feed", None, json.dumps({"connected": up}))
        for sub in list(self._subscribers):
            sub.offer(event)

    def _dispatch(self, event: SseEvent) -> None:
        name, event_id, data = event
        if event_id:
            self._last_id = event_id
        self.events += 1
        if name in {"offline", "removed"}:
            with contextlib.suppress(ValueError):
                ref = json.loads(data).get("ref")
                for waiter in self._offline.get(ref, ()):
                    waiter.set()
        for sub in list(self._subscribers):
            sub.offer(event)

    def offline_event(self, ref: AgentRef) -> asyncio.Event:
        """An event set when ``ref`` goes offline or is removed; release it with
        :meth:`release`."""
        event = asyncio.Event()
        self._offline.setdefault(str(ref), []).append(event)
        return event

    def release(self, ref: AgentRef, event: asyncio.Event) -> None:
        waiters = self._offline.get(str(ref))
        if waiters and event in waiters:
            waiters.remove(event)
            if not waiters:
                del self._offline[str(ref)]

    async def frames(self, closing: asyncio.Event, heartbeat: float = 15.0
                     ) -> AsyncIterator[bytes]:
        """SSE frames for one browser until it goes away or the dashboard stops."""
        sub = _Subscriber(self._queue_size)
        self._subscribers.add(sub)
        stop = asyncio.ensure_future(closing.wait())
        get: asyncio.Future[SseEvent] | None = None
        try:
            up = json.dumps({"connected": self.connected.is_set()})
            yield f"retry: 2000\nevent: feed\ndata: {up}\n\n".encode()
            while True:
                get = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({get, stop}, timeout=heartbeat,
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    if stop in done:
                        return
                    yield b": ping\n\n"
                    continue
                name, event_id, data = get.result()
                head = f"id: {event_id}\n" if event_id else ""
                yield f"{head}event: {name}\ndata: {data}\n\n".encode()
                if sub.dropped and sub.queue.empty():
                    return
        finally:  # the browser left (the generator is closed) or the dashboard stops
            stop.cancel()
            if get is not None:
                get.cancel()
            self._subscribers.discard(sub)


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """The fields of a registry entry the fleet list shows (the card left out)."""
    return {k: v for k, v in item.items() if k != "card"}
