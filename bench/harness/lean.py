"""The cheapest requester that still speaks the binding: a load generator, not a client.

A server-scaling bench on a small machine shares its cores with the requester: every
millisecond the requester spends is one the agent cannot use. ``LeanRequester``
publishes unary SendMessage requests exactly as the binding says (JSON-RPC payload,
``a2a-version``, Response Topic under ``$a2a/v1/reply/``, random Correlation Data,
QoS 1) from a payload template (only the message id and the Task.id change; Task.ids
time-ordered, as §6.2 asks of requesters, unless told otherwise), and checks each reply
without decoding it into protobuf: a reply whose bytes hold no ``"error"`` and the
completed state counts as answered. ``A2AMqttClient`` does far more per request
(proto building and ProtoJSON both ways, retries, discovery); this is what is left
when the requester is only a source of load.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib
from collections.abc import Callable

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.stream import Uuid7Source
from a2a_mqtt.binding.topics import AgentRef, reply_topic, request_topic
from a2a_mqtt.transport import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    Subscription,
    create_transport,
)

__all__ = ["LeanRequester", "ordered_task_ids", "task_ids_for"]

_MARK = "0" * 32
_TASK = "00000000-0000-4000-8000-000000000000"


class LeanRequester:
    """``async with LeanRequester(url, ref) as r: await r.send()``. ``task_ids`` makes
    each request's Task.id (default: :func:`ordered_task_ids`; a bench may pick ids that
    all go to one worker)."""

    def __init__(self, url: str, ref: AgentRef, *, text: str = "hi",
                 task_ids: Callable[[], uuid.UUID] | None = None) -> None:
        self._ref = ref
        self._task_ids = ordered_task_ids() if task_ids is None else task_ids
        me = AgentRef("bench", "clients", f"lean-{uuid.uuid4().hex[:12]}")
        self._reply = reply_topic(me, uuid.uuid4().hex[:16])
        self._topic = request_topic(ref)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
            "message": {"messageId": _MARK, "taskId": _TASK, "role": "ROLE_USER",
                        "parts": [{"text": text}]}}}, separators=(",", ":")).encode()
        self._head, _, rest = body.partition(_MARK.encode())
        self._middle, _, self._tail = rest.partition(_TASK.encode())
        self._props = [(P.A2A_VERSION, "1.0")]
        self._pending: dict[bytes, asyncio.Future[bytes]] = {}
        self._transport = create_transport(ConnectOptions(
            url=BrokerURL.parse(url), client_id=me.client_id))

    def _on_reply(self, msg: IncomingMessage) -> None:
        fut = self._pending.pop(msg.properties.correlation_data or b"", None)
        if fut is not None and not fut.done():
            fut.set_result(msg.payload)

    async def __aenter__(self) -> LeanRequester:
        await self._transport.subscribe(Subscription(self._reply, qos=1), self._on_reply)
        await self._transport.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.disconnect()

    def payload(self, task_id: uuid.UUID) -> bytes:
        """The request for ``task_id``: the requester generates the Task.id (docs/binding.md
        §6.2); the message id (and the Correlation Data) is its hex."""
        return self._head + task_id.hex.encode() + self._middle + str(task_id).encode() + self._tail

    async def send(self) -> None:
        """One SendMessage; raises unless it completed."""
        task_id = self._task_ids()
        corr = task_id.hex.encode()
        payload = self.payload(task_id)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        try:
            await self._transport.publish(self._topic, payload, qos=1, properties=(
                P.request_properties(response_topic=self._reply, correlation_data=corr,
                                     extra=self._props)))
            reply = await fut
        finally:
            self._pending.pop(corr, None)
        if b'"error"' in reply or b"TASK_STATE_COMPLETED" not in reply:
            raise RuntimeError(f"not completed: {reply[:200]!r}")


def ordered_task_ids() -> Callable[[], uuid.UUID]:
    """Time-ordered Task.ids (UUIDv7s), as docs/binding.md §6.2 asks of a requester and
    ``A2AMqttClient`` makes them: a database store inserts each at its indexes' right
    edge (docs/performance.md, stores "Round 6")."""
    source = Uuid7Source()
    return lambda: uuid.UUID(source())


def task_ids_for(worker: int, workers: int,
                 make_id: Callable[[], uuid.UUID] | None = None) -> Callable[[], uuid.UUID]:
    """Task.ids from ``make_id`` (default: :func:`ordered_task_ids`) that partition
    dispatch gives ``worker`` of ``workers`` (the CRC-32 of the id, as
    ``a2a_mqtt.server.pooling.worker_of`` takes it): a bench can send the whole load to
    one worker."""
    source = ordered_task_ids() if make_id is None else make_id

    def make() -> uuid.UUID:
        for _ in range(10_000):  # 1/workers of all ids fit: a few tries on average
            task_id = source()
            if zlib.crc32(str(task_id).encode()) % workers == worker:
                return task_id
        raise RuntimeError("no Task.id for that worker in 10,000 tries")

    return make
