"""The change feed as Server-Sent Events (``GET /events``).

Framing: every change is ``id: EPOCH-SEQ``, ``event: KIND`` and one ``data:``
line of compact JSON (``render.change_dict``). Markers carry no id:
``resync`` (events were missed: re-read ``GET /agents``, then keep reading),
``overflow`` (this reader fell ``feed_queue_size`` events behind and is
dropped: reconnect with the last id) and ``closing`` (the registry stops).
An idle stream gets a ``: ping`` comment every ``heartbeat`` seconds.

Written on Starlette's StreamingResponse rather than sse-starlette: the latter
starts a process-wide polling task to notice uvicorn's signal handler, which
outlives our server and misses our own shutdown; this stream ends when the
feed closes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from a2a_mqtt.registry.feed import FeedSubscription
from a2a_mqtt.registry.render import change_dict

__all__ = ["event_stream"]

_MESSAGES = {
    "resync": "events were missed (unknown or too old Last-Event-ID): re-read GET /agents "
              "and keep reading this stream",
    "overflow": "this reader fell too far behind and was dropped: reconnect with the last "
                "event id",
    "closed": "the registry is stopping",
}


def _marker(kind: str, event_id: str) -> bytes:
    data = json.dumps({"message": _MESSAGES[kind], "eventId": event_id})
    name = "closing" if kind == "closed" else kind
    return f"event: {name}\ndata: {data}\n\n".encode()


async def _frames(sub: FeedSubscription, *, epoch: str, heartbeat: float
                  ) -> AsyncIterator[bytes]:
    try:
        yield b": connected\n\n"  # flushes the headers to the client at once
        while True:
            item = await sub.next(heartbeat)
            if item is None:
                yield b": ping\n\n"
                continue
            if isinstance(item, str):
                yield _marker(item, f"{epoch}-{sub.last_seq}")
                if item == "resync":
                    continue
                return
            data = json.dumps(change_dict(item), ensure_ascii=False, separators=(",", ":"))
            yield f"id: {epoch}-{item.seq}\nevent: {item.kind}\ndata: {data}\n\n".encode()
    finally:
        sub.close()


def event_stream(sub: FeedSubscription, *, epoch: str, heartbeat: float) -> StreamingResponse:
    """A ``text/event-stream`` response that reads ``sub`` until it ends or the client goes."""
    return StreamingResponse(
        _frames(sub, epoch=epoch, heartbeat=heartbeat), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
