"""The generic client: calls to any agent, made server-side with our requester.

Each streamed call runs in a named task that puts its items on a bounded
queue: ``wire`` items (from :mod:`a2a_mqtt.dashboard.wire`), ``event`` items
(each JSON-RPC result as it arrives), then ``error`` or ``end``. The HTTP
layer writes them to the browser as NDJSON. When the browser goes away the
reader closes the stream, which cancels the task: no call outlives its page.

A call also ends, with a clear message, when the fleet feed says the agent
went offline (its will fired): the page learns at once instead of waiting
for the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Protocol

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.requester import Requester
from a2a_mqtt.dashboard.wire import WireLog, WireTap, current_wire

__all__ = ["CallService", "TaskRecord"]

_QUEUE_LIMIT: Final = 2000
_HISTORY_LIMIT: Final = 200
_FINAL: Final = frozenset({"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED",
                           "TASK_STATE_REJECTED"})

Item = dict[str, Any]


class OfflineWatch(Protocol):
    """Tells when an agent goes offline (the fleet feed: :class:`~.feed.FeedHub`)."""

    def offline_event(self, ref: AgentRef) -> asyncio.Event: ...

    def release(self, ref: AgentRef, event: asyncio.Event) -> None: ...


def error_item(exc: BaseException) -> Item:
    """A failed call as an item the page shows: a message and, when known, the code."""
    item: Item = {"kind": "error", "message": str(exc) or type(exc).__name__,
                  "type": type(exc).__name__}
    code = getattr(getattr(exc, "kind", None), "code", None)
    if isinstance(code, int):
        item["code"] = code
    return item


def _task_state(result: Any) -> tuple[str | None, str | None]:
    """(task id, state) of one streamed result, when it names them."""
    if not isinstance(result, dict):
        return None, None
    for key in ("task", "statusUpdate"):
        body = result.get(key)
        if isinstance(body, dict):
            task_id = body.get("id") or body.get("taskId")
            state = (body.get("status") or {}).get("state")
            return task_id, state
    body = result.get("artifactUpdate")
    if isinstance(body, dict):
        return body.get("taskId"), None
    return None, None


class TaskRecord:
    """One task this dashboard started or followed: what the task list shows."""

    __slots__ = ("agent", "context_id", "events", "started", "state", "task_id", "updated")

    def __init__(self, agent: str, task_id: str, context_id: str | None) -> None:
        self.agent = agent
        self.task_id = task_id
        self.context_id = context_id
        self.state: str | None = None
        self.started = self.updated = time.time()
        self.events = 0

    def as_dict(self) -> Item:
        return {"agent": self.agent, "taskId": self.task_id, "contextId": self.context_id,
                "state": self.state, "started": self.started, "updated": self.updated,
                "events": self.events}


class CallService:
    """Streams and unary calls through one requester; keeps a bounded task history."""

    def __init__(self, requester: Requester, tap: WireTap | None, *,
                 offline: OfflineWatch | None = None,
                 reply_timeout: float, idle_timeout: float) -> None:
        self.requester = requester
        self.tap = tap
        self._offline = offline
        self.reply_timeout = reply_timeout
        self.idle_timeout = idle_timeout
        self.history: OrderedDict[str, TaskRecord] = OrderedDict()
        self.open_calls = 0

    def _record(self, agent: AgentRef, task_id: str | None, context_id: str | None = None,
                state: str | None = None) -> None:
        if not task_id:
            return
        record = self.history.get(task_id)
        if record is None:
            record = self.history[task_id] = TaskRecord(str(agent), task_id, context_id)
            while len(self.history) > _HISTORY_LIMIT:
                self.history.popitem(last=False)
        record.events += 1
        record.updated = time.time()
        if state:
            record.state = state
        self.history.move_to_end(task_id)

    def tasks(self, agent: AgentRef | None = None) -> list[Item]:
        """The task history, newest first (only ``agent``'s when given)."""
        return [r.as_dict() for r in reversed(self.history.values())
                if agent is None or r.agent == str(agent)]

    async def stream(self, agent: AgentRef, method: str, params: dict[str, Any]
                     ) -> AsyncIterator[Item]:
        """Items of one streamed call until it ends; closing the iterator cancels it."""
        queue: asyncio.Queue[Item] = asyncio.Queue()
        overflow = False

        def put(item: Item) -> None:
            # Bounded: a page that stops reading ends its call with an error item (the
            # last one) instead of letting the queue grow.
            nonlocal overflow
            if overflow:
                return
            if queue.qsize() >= _QUEUE_LIMIT:
                overflow = True
                item = {"kind": "error", "type": "Overflow", "message":
                        f"the page fell {_QUEUE_LIMIT} items behind; the call was dropped "
                        "(resubscribe to the task to continue)"}
            queue.put_nowait(item)

        wire = WireLog(listener=lambda w: put({"kind": "wire", "item": w}))
        message = params.get("message") or {}
        self._record(agent, message.get("taskId") or params.get("id"),
                     message.get("contextId"))
        put({"kind": "call", "method": method, "agent": str(agent)})
        task = asyncio.get_running_loop().create_task(
            self._run(agent, method, params, wire, put),
            name=f"a2a-mqtt[dashboard].call {method} {agent}")
        self.open_calls += 1
        try:
            while True:
                item = await queue.get()
                yield item
                if item["kind"] in ("end", "error"):
                    return
        finally:
            self.open_calls -= 1
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            if self.tap is not None:
                self.tap.forget(wire)

    async def _run(self, agent: AgentRef, method: str, params: dict[str, Any],
                   wire: WireLog, put: Callable[[Item], None]) -> None:
        current_wire.set(wire)
        gone = self._offline.offline_event(agent) if self._offline else asyncio.Event()
        try:
            reader = self._read(agent, method, params, put)
            watcher = asyncio.ensure_future(gone.wait())
            work = asyncio.ensure_future(reader)
            try:
                done, _ = await asyncio.wait({work, watcher},
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                watcher.cancel()
            if work in done:
                work.result()
                put({"kind": "end"})
                return
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            put({"kind": "error", "type": "AgentOffline",
                 "message": f"{agent} went offline during the call (its last will was "
                            "published); the task may be resumed when it is back"})
        except Exception as exc:
            # Timeouts, error replies (BindingError, A2AClientError), transport failures
            # and anything unexpected from one reply: shown to the page, never raised.
            put(error_item(exc))
        finally:
            if self._offline is not None:
                self._offline.release(agent, gone)

    async def _read(self, agent: AgentRef, method: str, params: dict[str, Any],
                    put: Callable[[Item], None]) -> None:
        task_id = (params.get("message") or {}).get("taskId") or params.get("id")
        async for reply in self.requester.stream(
                self.requester.route(agent, task_id), method, params,
                unary=method not in ("SendStreamingMessage", "SubscribeToTask")):
            if agent.pool and reply.responder and task_id:
                self.requester.note_responder(agent, task_id, reply.responder)
            found_id, state = _task_state(reply.result)
            self._record(agent, found_id or task_id, state=state)
            put({"kind": "event", "result": reply.result, "end": reply.end,
                 "responder": reply.responder})

    async def unary(self, agent: AgentRef, method: str, params: dict[str, Any]) -> Item:
        """One request, its result (or error) and its wire items."""
        items: list[Item] = []
        async for item in self.stream(agent, method, params):
            items.append(item)
        result = next((i["result"] for i in items if i["kind"] == "event"), None)
        error = next((i for i in items if i["kind"] == "error"), None)
        return {"result": result, "error": error,
                "wire": [i["item"] for i in items if i["kind"] == "wire"]}
