"""The wire inspector: what one dashboard call put on and took off the broker.

:class:`WireTap` wraps the dashboard's MQTT transport (through the
``transport_factory`` seam every component takes). A call that wants its wire
sets :data:`current_wire` to a :class:`WireLog` before it calls the
requester: a request published from that task is recorded there, and the log
is remembered under the request's Correlation Data, so the replies that carry
it are recorded too. Nothing is recorded for other traffic.

Bounded: a log keeps its first ``limit`` items; the correlation map forgets a
log when its call ends (:meth:`WireTap.forget`).
"""

from __future__ import annotations

import base64
import contextvars
import json
import time
from collections.abc import Callable
from typing import Any, Final

from a2a_mqtt.transport.base import (
    IncomingMessage,
    MessageHandler,
    MqttTransport,
    PublishProperties,
    Subscription,
)

__all__ = ["WireLog", "WireTap", "current_wire", "describe_properties"]

_MAX_PAYLOAD_CHARS: Final = 64 * 1024

current_wire: contextvars.ContextVar[WireLog | None] = contextvars.ContextVar(
    "a2a_mqtt_dashboard_wire", default=None)


def describe_properties(props: PublishProperties | None) -> dict[str, Any]:
    """MQTT 5 properties as JSON (correlation data as text when it is, else base64)."""
    if props is None:
        return {}
    out: dict[str, Any] = {}
    if props.response_topic is not None:
        out["responseTopic"] = props.response_topic
    if props.correlation_data is not None:
        try:
            out["correlationData"] = props.correlation_data.decode("ascii")
        except UnicodeDecodeError:
            out["correlationData"] = "base64:" + base64.b64encode(
                props.correlation_data).decode()
    if props.content_type is not None:
        out["contentType"] = props.content_type
    if props.payload_format_utf8 is not None:
        out["payloadFormatIndicator"] = int(props.payload_format_utf8)
    if props.message_expiry_interval is not None:
        out["messageExpiryInterval"] = props.message_expiry_interval
    if props.user_properties:
        out["userProperties"] = [
            [k, "<redacted>" if "authorization" in k.lower() else v]
            for k, v in props.user_properties]
    return out


def _payload(data: bytes) -> Any:
    """The payload as JSON when it is JSON, else as (truncated) text or base64."""
    if len(data) > _MAX_PAYLOAD_CHARS:
        return {"truncated": True, "bytes": len(data),
                "head": data[:1024].decode("utf-8", "replace")}
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(data).decode()


class WireLog:
    """The wire items of one call, in order; ``listener`` sees each as it is added."""

    def __init__(self, *, limit: int = 500,
                 listener: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.items: list[dict[str, Any]] = []
        self.limit = limit
        self.listener = listener
        self.correlations: list[bytes] = []

    def add(self, direction: str, topic: str, payload: bytes, qos: int,
            props: PublishProperties | None) -> None:
        if len(self.items) >= self.limit:
            return
        item = {"direction": direction, "topic": topic, "qos": qos, "at": time.time(),
                "properties": describe_properties(props), "payload": _payload(payload)}
        self.items.append(item)
        if self.listener is not None:
            self.listener(item)


class WireTap:
    """An :class:`MqttTransport` that records the traffic of calls that ask for it."""

    def __init__(self, inner: MqttTransport) -> None:
        self._inner = inner
        self._logs: dict[bytes, WireLog] = {}

    @property
    def connected(self) -> bool:
        return self._inner.connected

    @property
    def client_id(self) -> str:
        return self._inner.client_id

    @property
    def watched(self) -> int:
        """Correlation ids currently being recorded (0 when no call is open)."""
        return len(self._logs)

    async def connect(self) -> None:
        await self._inner.connect()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await self._inner.wait_connected(timeout)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                      properties: PublishProperties | None = None) -> int:
        log = current_wire.get()
        if log is not None:
            corr = properties.correlation_data if properties is not None else None
            if corr is not None:
                self._logs[corr] = log
                log.correlations.append(corr)
            log.add("request", topic, payload, qos, properties)
        code = await self._inner.publish(topic, payload, qos=qos, retain=retain,
                                         properties=properties)
        if log is not None and code:
            log.add("puback", topic, json.dumps({"reasonCode": code}).encode(), qos, None)
        return code

    async def subscribe(self, subscription: Subscription, handler: MessageHandler) -> None:
        def tapped(msg: IncomingMessage) -> None:
            corr = msg.properties.correlation_data
            log = self._logs.get(corr) if corr is not None else None
            if log is not None:
                log.add("reply", msg.topic, msg.payload, msg.qos, msg.properties)
            handler(msg)
        await self._inner.subscribe(subscription, tapped)

    async def unsubscribe(self, topic_filter: str) -> None:
        await self._inner.unsubscribe(topic_filter)

    def on_connection_change(self, callback: Callable[[bool], None]) -> None:
        self._inner.on_connection_change(callback)

    async def disconnect(self, *, send_will: bool = False) -> None:
        await self._inner.disconnect(send_will=send_will)

    def forget(self, log: WireLog) -> None:
        """Stop recording for ``log`` (its call ended)."""
        for corr in log.correlations:
            if self._logs.get(corr) is log:
                del self._logs[corr]
