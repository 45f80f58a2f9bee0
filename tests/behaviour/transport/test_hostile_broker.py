"""A broker that breaks the protocol: the connection is dropped with a TransportError,
the transport reconnects, and the event loop never hangs or dies.

Mosquitto never sends malformed packets, so the peer here is a small TCP server
that speaks just enough MQTT (CONNACK, then the bytes under test); a real
Mosquitto covers everything else in this folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import mqtt5
import pytest

from a2a_mqtt.transport import BrokerURL, ConnectOptions, Mqtt5Transport
from a2a_mqtt.transport._framing import Framer


class HostilePeer:
    """Answers CONNECT with CONNACK; on the first connection it then sends ``attack``
    as soon as the client sends anything after CONNECT (or never answers PINGREQ)."""

    def __init__(self, attack: bytes | None) -> None:
        self.attack = attack
        self.connects = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        self.writers.append(writer)
        self.connects += 1
        first = self.connects == 1
        try:
            while data := await reader.read(65536):
                for packet in framer.feed(data):
                    if isinstance(packet, mqtt5.ConnectPacket):
                        writer.write(mqtt5.ConnAckPacket().write())
                    elif first and self.attack is not None:
                        writer.write(self.attack)
                    elif isinstance(packet, mqtt5.PingReqPacket) and not first:
                        writer.write(mqtt5.PingRespPacket().write())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self.server.wait_closed()


ATTACKS = {
    "bad remaining length": b"\x30\xff\xff\xff\xff\x01",
    "undefined PUBACK reason": b"\x40\x04\x00\x01\x77\x00",
    "topic runs past the packet": b"\x30\x02\x00\x05",
    "reserved packet type": b"\xf0\x00",
    "a CONNECT from the broker": mqtt5.ConnectPacket("evil").write(),
    "a second CONNACK": mqtt5.ConnAckPacket().write(),
    "an AUTH we never asked for": mqtt5.AuthPacket().write(),
    "DISCONNECT": mqtt5.DisconnectPacket(
        reason_code=mqtt5.DisconnectReasonCode.SERVER_SHUTTING_DOWN
    ).write(),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
@pytest.mark.asyncio
async def test_a_broken_packet_costs_the_connection_not_the_session(
    attack: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    changes: asyncio.Queue[bool] = asyncio.Queue()
    peer = HostilePeer(attack)
    port = await peer.start()
    options = ConnectOptions(url=BrokerURL.parse(f"mqtt://127.0.0.1:{port}"), client_id="victim",
                             reconnect_min_delay=0.01, reconnect_max_delay=0.05)  # fmt: skip
    caplog.set_level(logging.WARNING, logger="a2a_mqtt.transport")
    async with Mqtt5Transport(options) as t:
        t.on_connection_change(changes.put_nowait)
        await t.publish("poke", b"", qos=0)  # the peer answers this with the attack
        assert await asyncio.wait_for(changes.get(), 5) is False
        assert await asyncio.wait_for(changes.get(), 5) is True  # reconnected
        assert t.connected
        await t.publish("still/alive", b"", qos=0)
    assert peer.connects == 2
    lost = [r.getMessage() for r in caplog.records if "connection to" in r.getMessage()]
    assert lost
    assert any(word in lost[0] for word in ("malformed", "protocol error", "DISCONNECT")), lost
    await peer.stop()


@pytest.mark.asyncio
async def test_a_broker_that_stops_answering_is_detected_by_keepalive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes: asyncio.Queue[bool] = asyncio.Queue()
    peer = HostilePeer(None)  # first connection: CONNACK, then silence (no PINGRESP)
    port = await peer.start()
    options = ConnectOptions(url=BrokerURL.parse(f"mqtt://127.0.0.1:{port}"), client_id="k",
                             keepalive=1, reconnect_min_delay=0.01,
                             reconnect_max_delay=0.05)  # fmt: skip
    caplog.set_level(logging.WARNING, logger="a2a_mqtt.transport")
    async with Mqtt5Transport(options) as t:
        t.on_connection_change(changes.put_nowait)
        assert await asyncio.wait_for(changes.get(), 6) is False
        assert await asyncio.wait_for(changes.get(), 5) is True
    assert any("no PINGRESP" in r.getMessage() for r in caplog.records)
    await peer.stop()
