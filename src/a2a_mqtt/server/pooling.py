"""How a pool member consumes its pool's requests: broker-shared, or claimed.

``shared``: one ``$share`` subscription per member, the broker picks a member
(docs/binding.md §2.4). ``claim``: for brokers whose shared subscriptions miss
``$`` topics (Mosquitto 2.0.11), every member subscribes to the pool topic and
the members race for each request in the shared database
(:mod:`a2a_mqtt.server.claims`). ``auto`` probes the broker once, on a short
connection of its own, before the member's session subscribes to anything.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Callable
from typing import Literal

from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.envelope import task_named
from a2a_mqtt.binding.properties import METHOD
from a2a_mqtt.binding.topics import AgentRef, event_topic, share_group
from a2a_mqtt.errors import ConnectError
from a2a_mqtt.mqtt_types import ConnectOptions, IncomingMessage, Subscription
from a2a_mqtt.transport.base import MqttTransport

__all__ = ["PoolDispatch", "probe_shared_dollar_topics", "worker_of"]

log = logging.getLogger("a2a_mqtt.server")

PoolDispatch = Literal["auto", "shared", "claim"]
_NO_MATCHING_SUBSCRIBERS = 0x10


async def probe_shared_dollar_topics(
    options: ConnectOptions, member: AgentRef,
    factory: Callable[[ConnectOptions], MqttTransport], *, timeout: float = 2.0,
    instead: str = "pool members will claim requests instead",
) -> bool:
    """True if the broker delivers a ``$a2a`` message to a ``$share`` subscription;
    ``instead`` ends the warning logged when it does not (what the caller does then)."""
    probe_id = uuid.uuid4().hex[:12]
    topic = f"{event_topic(member)}/probe-{probe_id}"
    group = share_group(member.org, member.unit, f"probe-{probe_id}")
    arrived = asyncio.Event()

    def on_message(_msg: IncomingMessage) -> None:
        arrived.set()

    transport = factory(ConnectOptions(
        url=options.url, client_id=f"{member.client_id}.probe-{probe_id}",
        username=options.username, password=options.password, tls=options.tls,
        keepalive=options.keepalive, clean_start=True, session_expiry_interval=0))
    await transport.subscribe(Subscription(f"$share/{group}/{topic}", qos=1), on_message)
    try:
        await transport.connect()
    except ConnectError as exc:
        # A secure broker binds each login to one Client ID, so the probe's own
        # connection is refused; claiming works on every broker.
        log.warning("cannot probe broker %s for shared $-topic delivery (%s); %s",
                    options.url, exc, instead)
        return False
    try:
        if await transport.publish(topic, b"probe", qos=1) == _NO_MATCHING_SUBSCRIBERS:
            # The broker says at once that the $share subscription did not match.
            log.warning("broker %s does not deliver $-topics to shared subscriptions "
                        "(Mosquitto does not); %s", options.url, instead)
            return False
        try:
            async with asyncio.timeout(timeout):
                await arrived.wait()
        except TimeoutError:
            log.warning("broker %s does not deliver $-topics to shared subscriptions "
                        "(Mosquitto does not); %s", options.url, instead)
            return False
        return True
    finally:
        await transport.disconnect()


def worker_of(msg: IncomingMessage, workers: int, *, max_bytes: int | None = None) -> int:
    """The worker (of ``workers``) that serves ``msg`` under partition dispatch.

    A request that names a task (every SendMessage does: the requester picks the
    Task.id; GetTask, CancelTask, SubscribeToTask, push configs) goes to the worker
    that CRC-32 of that Task.id names: every turn, read, cancel and subscription of a
    task reaches the one process that runs it, so each worker runs its tasks as a lone
    agent does (from memory, writing behind). Anything else (ListTasks, the extended
    card, a payload too large or unreadable, whose error any worker answers) goes by
    CRC-32 of its Correlation Data (else the Response Topic). Every worker's copy gets
    the same answer with no shared state, and the split is even.
    """
    if workers <= 1:
        return 0
    payload = msg.payload
    task_id = None
    if max_bytes is None or len(payload) <= max_bytes:
        if protobin.is_protobuf(msg.properties.content_type):  # docs/binding.md §3.4
            task_id = protobin.task_named(msg.properties.user_property(METHOD), payload)
        else:
            task_id = task_named(payload)
    if task_id is not None:
        return zlib.crc32(task_id.encode()) % workers
    key = msg.properties.correlation_data or (msg.properties.response_topic or "").encode()
    return zlib.crc32(key) % workers
