"""RegistryClient: the directory of agents, read from a registry over HTTP.

It mirrors :class:`~a2a_mqtt.client.discovery.Discovery` -- ``list``, ``get``,
``resolve``, ``find``, ``watch`` -- with the same :class:`AgentEntry` and
:class:`DiscoveryEvent` values, but asks a registry instead of subscribing to
every retained card, so a client of a large fleet reads only what it needs.
The calls are coroutines (each is an HTTP request). Use an entry with
``A2AMqttClient(..., discover=False).client_for(entry)`` to call the agent::

    async with RegistryClient("http://registry:8700") as registry, \\
            A2AMqttClient(config, discover=False) as mqtt:
        entry = await registry.find(tag="inspection")
        client = mqtt.client_for(entry)

``watch`` follows ``GET /events``: it lists the current entries first (as
``added``), then streams changes from that exact point, reconnecting with the
last event id if the stream breaks. A ``resync`` (events were missed) is
answered by listing again and reporting the differences.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType
from typing import Any, Final

import httpx

from a2a_mqtt.binding.card import parse_card
from a2a_mqtt.binding.directory import AgentEntry, DiscoveryEvent
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.errors import DiscoveryError, InvalidCardError
from a2a_mqtt.registry.errors import RegistryClientError

__all__ = ["Page", "RegistryClient", "entry_from_json"]

_Params = builtins.list[tuple[str, str | int | float | bool | None]]
_MAX_RECONNECTS: Final = 5
_KINDS: Final = {"added", "updated", "online", "offline", "removed"}


def entry_from_json(item: dict[str, Any]) -> AgentEntry:
    """An :class:`AgentEntry` from one item of the registry's answers."""
    card = None
    problems: tuple[str, ...] = ()
    if isinstance(item.get("card"), dict):
        try:
            card = parse_card(item["card"], validate=False)
        except InvalidCardError as exc:
            problems = (str(exc),)
    observed = item.get("observed") or {}
    return AgentEntry(ref=AgentRef.parse(item["ref"]), card=card, status=item["status"],
                      status_source=item.get("statusSource", "agent"), problems=problems,
                      updated_at=_epoch(observed.get("changedAt")))


def _epoch(text: Any) -> float:
    from datetime import datetime  # noqa: PLC0415

    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


class Page:
    """One page of ``GET /agents``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.items = [entry_from_json(i) for i in data["items"]]
        self.total: int = data["total"]
        self.next: str | None = data["next"]
        self.event_id: str = data["eventId"]


def _params(filters: dict[str, Any]) -> _Params:
    out: _Params = []
    for name, value in filters.items():
        if value is None:
            continue
        if name == "online":
            out.append(("status", "online" if value else "offline"))
        elif isinstance(value, list | tuple):
            out.extend((name, str(v)) for v in value)
        else:
            out.append((name, str(value)))
    return out


class RegistryClient:
    """An HTTP client of one registry; an async context manager."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._own = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout, headers=headers)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def _get(self, path: str, params: _Params | None = None) -> Any:
        try:
            response = await self._http.get(f"{self.url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise RegistryClientError(f"registry {self.url} unreachable: {exc}",
                                      status=0) from exc
        return self._decode(response)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise RegistryClientError(f"registry answered {response.status_code}: {message}",
                                      status=response.status_code)
        return response.json() if response.content else None

    async def page(self, *, cursor: str | None = None, limit: int | None = None,
                   **filters: Any) -> Page:
        """One page of agents matching ``filters`` (the HTTP parameter names)."""
        params = _params(filters) + _params({"cursor": cursor, "limit": limit})
        return Page(await self._get("/agents", params))

    async def list(self, *, max_items: int = 100_000, **filters: Any
                   ) -> builtins.list[AgentEntry]:
        """Every agent matching ``filters`` (following cursors), ordered by reference.

        ``online=True/False`` is accepted like ``Discovery.list``; so are ``org``,
        ``unit``, ``skill``, ``tag``, ``name`` and the registry's other filters.
        """
        out: builtins.list[AgentEntry] = []
        cursor: str | None = None
        while len(out) < max_items:
            page = await self.page(cursor=cursor, limit=min(1000, max_items - len(out)),
                                   **filters)
            out.extend(page.items)
            if page.next is None:
                break
            cursor = page.next
        return out

    async def get(self, ref: AgentRef | str) -> AgentEntry | None:
        try:
            data = await self._get(f"/agents/{ref}")
        except RegistryClientError as exc:
            if exc.status == 404:
                return None
            raise
        return entry_from_json(data)

    async def resolve(self, ref: AgentRef | str, *, timeout: float = 5.0) -> AgentEntry:
        """The entry of ``ref``, waiting up to ``timeout`` for its card to appear."""
        target = AgentRef.parse(ref) if isinstance(ref, str) else ref
        return await self._await_match(
            f"no usable agent card for {target}", timeout, lambda e: e.ref == target,
            org=target.org, unit=target.unit, agent=target.name,
            kind="pool" if target.pool else "agent")

    async def find(self, *, timeout: float = 5.0, **filters: Any) -> AgentEntry:
        """The first online agent matching ``filters``, waiting up to ``timeout``."""
        what = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
        return await self._await_match(f"no online agent matches {what or 'the query'}",
                                       timeout, lambda e: e.online, online=True, **filters)

    async def _await_match(self, error: str, timeout: float,
                           accept: Callable[[AgentEntry], bool], **filters: Any) -> AgentEntry:
        """The first entry with a card that ``accept`` takes, from a watch of ``filters``."""
        events = self.watch(**filters)
        try:
            async with asyncio.timeout(timeout):
                async for event in events:
                    entry = event.entry
                    if event.kind not in ("removed", "invalid") and entry.card is not None \
                            and accept(entry):
                        return entry
        except TimeoutError:
            pass
        finally:
            await events.aclose()
        raise DiscoveryError(error)

    async def rejected(self, **filters: Any) -> builtins.list[dict[str, Any]]:
        data = await self._get("/rejected", _params(filters))
        return list(data["items"])

    async def stats(self) -> dict[str, Any]:
        return dict(await self._get("/stats"))

    async def watch(self, *, include_existing: bool = True, **filters: Any
                    ) -> AsyncGenerator[DiscoveryEvent, None]:
        """Changes of matching agents, first the current ones (as ``added``)."""
        known: dict[AgentRef, AgentEntry] = {}
        event_id = await self._snapshot(filters, known)
        if include_existing:
            for entry in known.values():
                yield DiscoveryEvent("added", entry)
        failures = 0
        while True:
            try:
                async for kind, data in self._stream(filters, event_id):
                    failures = 0
                    if kind == "resync":
                        event_id = data["eventId"]
                        for missed in await self._diff(filters, known):
                            yield missed
                        continue
                    if kind in ("overflow", "closing"):
                        break
                    event_id = data["_id"]
                    change = self._event(kind, data, known)
                    if change is not None:
                        yield change
            except (httpx.HTTPError, RegistryClientError):
                failures += 1
                if failures > _MAX_RECONNECTS:
                    raise
            await asyncio.sleep(min(2.0, 0.1 * 2 ** failures))

    async def _snapshot(self, filters: dict[str, Any], known: dict[AgentRef, AgentEntry]
                        ) -> str:
        page = await self.page(limit=1000, **filters)
        event_id = page.event_id
        entries = page.items
        while page.next is not None:
            page = await self.page(cursor=page.next, limit=1000, **filters)
            entries.extend(page.items)
        known.clear()
        known.update((e.ref, e) for e in entries)
        return event_id

    async def _diff(self, filters: dict[str, Any], known: dict[AgentRef, AgentEntry]
                    ) -> builtins.list[DiscoveryEvent]:
        before = dict(known)
        await self._snapshot(filters, known)
        events = [DiscoveryEvent("removed", e) for r, e in before.items() if r not in known]
        for ref, entry in known.items():
            old = before.get(ref)
            if old is None:
                events.append(DiscoveryEvent("added", entry))
            elif old.status != entry.status:
                events.append(DiscoveryEvent("online" if entry.online else "offline", entry))
            elif old.card != entry.card:
                events.append(DiscoveryEvent("updated", entry))
        return events

    @staticmethod
    def _event(kind: str, data: dict[str, Any], known: dict[AgentRef, AgentEntry]
               ) -> DiscoveryEvent | None:
        if kind == "rejected":
            ref_text = data.get("ref")
            if ref_text is None:
                return None
            ref = AgentRef.parse(ref_text)
            known.pop(ref, None)
            reasons = tuple(data["rejection"]["reasons"])
            return DiscoveryEvent("invalid", AgentEntry(
                ref=ref, card=None, status=data["rejection"]["status"],
                status_source=data["rejection"]["statusSource"], problems=reasons))
        if kind not in _KINDS or "entry" not in data:
            return None
        entry = entry_from_json(data["entry"])
        if kind == "removed":
            known.pop(entry.ref, None)
        else:
            known[entry.ref] = entry
        return DiscoveryEvent(kind, entry)  # type: ignore[arg-type]

    async def _stream(self, filters: dict[str, Any], event_id: str
                      ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        headers = {"Last-Event-ID": event_id}
        timeout = httpx.Timeout(10.0, read=None)  # an idle stream is not an error
        async with self._http.stream("GET", f"{self.url}/events", params=_params(filters),
                                     headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                self._decode(response)
            kind, data, last_id = "message", "", None
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    continue
                if not line:
                    if data:
                        value = json.loads(data)
                        value["_id"] = last_id
                        yield kind, value
                    kind, data, last_id = "message", "", None
                    continue
                field, _, value_text = line.partition(":")
                value_text = value_text.removeprefix(" ")
                if field == "event":
                    kind = value_text
                elif field == "data":
                    data = f"{data}\n{value_text}" if data else value_text
                elif field == "id":
                    last_id = value_text
