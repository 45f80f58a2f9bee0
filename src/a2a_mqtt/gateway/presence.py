"""Presence: which agents exist (the directory), and which calls wait on each of them.

:class:`AgentDirectory` is the seam: anything that can look an agent up by
reference and list them all. :class:`DiscoveryDirectory` is the default one,
the live directory our MQTT client builds from retained Agent Cards;
:class:`RegistryDirectory` mirrors an a2a-mqtt registry instead.

A request already taken by an agent that then crashes never gets a reply:
without help the HTTP client would wait for the full reply timeout. So every
wait on an agent runs inside a :class:`Guard` (an ``asyncio.timeout(None)``),
registered in :class:`Inflight`; when the agent's will (or the broker) marks
it offline, :class:`DiscoveryDirectory` calls :meth:`Inflight.abort` and each
of those waits ends with :class:`AgentUnavailableError` at once. A graceful
stop (``a2a-status-source=agent``) is not a death: the agent drains what it has
taken before it disconnects. A guard never spans a ``yield``: streams wrap
each ``anext`` separately, so an abort cancels the wait on MQTT and never the
code consuming the stream.

:class:`Inflight` also counts open streams, so tests and shutdown can wait
until every stream a client abandoned has been wound down (:meth:`wait_idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.discovery import AgentEntry, Discovery, DiscoveryEvent, Watch
from a2a_mqtt.gateway.errors import AgentUnavailableError

if TYPE_CHECKING:
    from a2a_mqtt.registry.client import RegistryClient

__all__ = ["AgentDirectory", "DiscoveryDirectory", "Guard", "Inflight", "RegistryDirectory"]

log = logging.getLogger("a2a_mqtt.gateway")

_DEATH_SOURCES = frozenset({"lwt", "broker", "emqx"})


class Guard:
    """One abortable wait on one agent (an async context manager, used once)."""

    __slots__ = ("_aborted", "_inflight", "_ref", "_timeout")

    def __init__(self, inflight: Inflight, ref: AgentRef) -> None:
        self._inflight = inflight
        self._ref = ref
        self._timeout = asyncio.timeout(None)
        self._aborted: str | None = None

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()
        self._inflight._guards.setdefault(self._ref, set()).add(self)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        guards = self._inflight._guards.get(self._ref)
        if guards is not None:
            guards.discard(self)
            if not guards:
                del self._inflight._guards[self._ref]
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            if self._aborted is None:
                raise
            raise AgentUnavailableError(f"agent {self._ref} {self._aborted}",
                                        agent=str(self._ref)) from None

    def abort(self, why: str) -> None:
        if self._aborted is None:
            self._aborted = why
            self._timeout.reschedule(asyncio.get_running_loop().time())


class Inflight:
    """Abortable waits per agent, and the number of open streams."""

    def __init__(self) -> None:
        self._guards: dict[AgentRef, set[Guard]] = {}
        self._streams = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def guard(self, ref: AgentRef) -> Guard:
        return Guard(self, ref)

    def abort(self, ref: AgentRef, why: str) -> int:
        """End every wait on ``ref`` with AgentUnavailableError; returns how many."""
        guards = list(self._guards.get(ref, ()))
        for guard in guards:
            guard.abort(why)
        return len(guards)

    def waiting(self, ref: AgentRef) -> int:
        """Waits on ``ref`` in progress right now."""
        return len(self._guards.get(ref, ()))

    @property
    def open_streams(self) -> int:
        return self._streams

    def stream_opened(self) -> None:
        self._streams += 1
        self._idle.clear()

    def stream_closed(self) -> None:
        self._streams -= 1
        if self._streams == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> None:
        """Return once no stream is open; TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()


class AgentDirectory(Protocol):
    """Looks agents up for the gateway; a registry client can stand in for discovery."""

    def get(self, ref: AgentRef) -> AgentEntry | None:
        """The entry for ``ref`` (an agent or a pool), or None if unknown."""
        ...  # pragma: no cover

    def entries(self) -> list[AgentEntry]:
        """Every known agent and pool, ordered by reference."""
        ...  # pragma: no cover


class DiscoveryDirectory:
    """The discovery directory, plus a named task that aborts calls to agents that died."""

    def __init__(self, discovery: Discovery, inflight: Inflight) -> None:
        self._discovery = discovery
        self._inflight = inflight
        self._task: asyncio.Task[None] | None = None

    def get(self, ref: AgentRef) -> AgentEntry | None:
        return self._discovery.get(ref)

    def entries(self) -> list[AgentEntry]:
        return self._discovery.entries()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("DiscoveryDirectory is already started (not reentrant)")
        watch = self._discovery.watch(include_existing=False)
        self._task = asyncio.create_task(self._run(watch), name="a2a-mqtt-gateway.presence")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, watch: Watch) -> None:
        async with watch:
            async for event in watch:
                _on_death(self._inflight, event)


def _on_death(inflight: Inflight, event: DiscoveryEvent) -> None:
    """Abort the calls in flight to an agent whose will (or broker) says it died."""
    entry = event.entry
    if event.kind == "offline" and entry.status_source in _DEATH_SOURCES:
        aborted = inflight.abort(entry.ref, f"went offline ({entry.status_source}) with the "
                                            "request in flight")
        if aborted:
            log.warning("agent %s died; %d call(s) in flight aborted", entry.ref, aborted)


class RegistryDirectory:
    """The directory read from an a2a-mqtt registry over HTTP (``--registry URL``).

    A local mirror answers ``get``/``entries`` without a round trip: it is
    filled by one listing at start and kept current by the registry's change
    feed (``RegistryClient.watch``), in a named task that also aborts the
    calls to agents that died. If the feed breaks for good it is reopened,
    with a capped backoff, until the directory is closed.
    """

    def __init__(self, url: str, inflight: Inflight, *, org: str | None = None,
                 unit: str | None = None, timeout: float = 10.0) -> None:
        self._url = url
        self._inflight = inflight
        self._filters: dict[str, Any] = {
            k: v for k, v in (("org", org), ("unit", unit)) if v is not None}
        self._timeout = timeout
        self._entries: dict[AgentRef, AgentEntry] = {}
        self._client: RegistryClient | None = None
        self._task: asyncio.Task[None] | None = None

    def get(self, ref: AgentRef) -> AgentEntry | None:
        return self._entries.get(ref)

    def entries(self) -> list[AgentEntry]:
        return sorted(self._entries.values(), key=lambda e: e.ref)

    async def start(self) -> None:
        from a2a_mqtt.registry.client import RegistryClient  # noqa: PLC0415 - optional part

        if self._client is not None:
            raise RuntimeError("RegistryDirectory is already started (not reentrant)")
        client = RegistryClient(self._url, timeout=self._timeout)
        await client.__aenter__()
        try:
            for entry in await client.list(**self._filters):
                self._entries[entry.ref] = entry
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._task = asyncio.create_task(self._follow(client), name="a2a-mqtt-gateway.registry")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        client, self._client = self._client, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if client is not None:
            await client.aclose()

    async def _follow(self, client: RegistryClient) -> None:
        from a2a_mqtt.registry.errors import RegistryClientError  # noqa: PLC0415

        delay = 0.5
        while True:
            try:
                async for event in client.watch(include_existing=True, **self._filters):
                    delay = 0.5
                    if event.kind == "removed":
                        self._entries.pop(event.entry.ref, None)
                    else:
                        self._entries[event.entry.ref] = event.entry
                    _on_death(self._inflight, event)
            except (RegistryClientError, OSError, ValueError) as exc:
                log.warning("registry feed from %s broke (%s); reopening in %.1fs",
                            self._url, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
