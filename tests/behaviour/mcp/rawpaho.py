"""A bare paho MQTT 5 client for checking the wire from outside (tests only).

paho runs its network loop in its own thread here; received messages go to a
thread-safe queue that tests read with :meth:`RawClient.next`.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import CallbackAPIVersion, Client, MQTTMessage
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    user_properties: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.payload)


class RawClient:
    def __init__(self, url: str, client_id: str, *,
                 connect_user_properties: tuple[tuple[str, str], ...] = ()) -> None:
        host, port = url.removeprefix("mqtt://").rsplit(":", 1)
        self.client_id = client_id
        self.inbox: queue.Queue[Received] = queue.Queue()
        self._client = Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                              protocol=5)  # MQTTv5
        self._client.on_message = self._on_message
        self._acks: dict[int, threading.Event] = {}
        self._client.on_subscribe = lambda c, u, mid, rc, p: self._ack(mid)
        self._client.on_publish = lambda c, u, mid, rc, p: self._ack(mid)
        props = Properties(PacketTypes.CONNECT)
        if connect_user_properties:
            props.UserProperty = list(connect_user_properties)
        connected = threading.Event()
        self._client.on_connect = lambda *a: connected.set()
        self._client.connect(host, int(port), keepalive=30, clean_start=True, properties=props)
        self._client.loop_start()
        if not connected.wait(10):
            raise TimeoutError("raw client could not connect")

    def _ack(self, mid: int) -> None:
        self._acks.setdefault(mid, threading.Event()).set()

    def _wait(self, mid: int) -> None:
        if not self._acks.setdefault(mid, threading.Event()).wait(10):
            raise TimeoutError(f"no ack for message id {mid}")

    def _on_message(self, client: Any, userdata: Any, msg: MQTTMessage) -> None:
        ups = getattr(msg.properties, "UserProperty", None) or []
        self.inbox.put(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos,
                                {str(k): str(v) for k, v in ups}))

    def subscribe(self, topic: str, *, no_local: bool = False,
                  retain_as_published: bool = False) -> None:
        options = SubscribeOptions(qos=1, noLocal=no_local, retainAsPublished=retain_as_published)
        _, mid = self._client.subscribe(topic, options=options)
        self._wait(mid)

    def publish(self, topic: str, payload: bytes, *,
                user_properties: tuple[tuple[str, str], ...] = ()) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if user_properties:
            props.UserProperty = list(user_properties)
        info = self._client.publish(topic, payload, qos=1, properties=props)
        self._wait(info.mid)

    async def next(self, timeout: float = 10.0) -> Received:
        return await asyncio.to_thread(self.inbox.get, True, timeout)

    async def fence(self) -> list[Received]:
        """Everything received before a marker we publish to ourselves comes back.

        The broker forwards in order on one connection, so whatever it had
        queued for us (retained messages after SUBACK, replies) precedes it.
        """
        marker = f"test-fence/{self.client_id}"
        self.subscribe(marker)
        self.publish(marker, b"fence")
        before: list[Received] = []
        while True:
            msg = await self.next()
            if msg.topic == marker:
                return before
            before.append(msg)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
