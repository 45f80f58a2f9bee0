"""Publish/subscribe basics of Mqtt5Transport against a real Mosquitto."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import replace

import pytest

from a2a_mqtt.errors import ConfigError, NotConnectedError
from a2a_mqtt.transport import (
    Mqtt5Transport,
    MqttTransport,
    PublishProperties,
    Subscription,
    connect_transport,
    create_transport,
)
from tests.behaviour.transport.conftest import Collector, OptionsFactory

ALL_PROPS = PublishProperties(
    response_topic="reply/here",
    correlation_data=b"\x00\xffcorr\x00",
    content_type="application/json",
    payload_format_utf8=True,
    message_expiry_interval=120,
    user_properties=(("a2a-op", "send"), ("dup", "1"), ("dup", "2"), ("Zeta", "z"), ("dup", "1")),
)


@pytest.mark.asyncio
async def test_qos1_round_trip_preserves_every_property(
    make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/rt"
    inbox = Collector()
    async with (
        Mqtt5Transport(make_options("sub")) as sub,
        Mqtt5Transport(make_options("pub")) as pub,
    ):
        await sub.subscribe(Subscription(topic, qos=1), inbox)
        await pub.publish(topic, b'{"x":1}', qos=1, properties=ALL_PROPS)
        message = await inbox.get()
    assert message.topic == topic
    assert message.payload == b'{"x":1}'
    assert message.qos == 1
    assert not message.retain
    assert message.ack is None
    props = message.properties
    assert props.response_topic == "reply/here"
    assert props.correlation_data == b"\x00\xffcorr\x00"
    assert props.content_type == "application/json"
    assert props.payload_format_utf8 is True
    assert props.message_expiry_interval is not None
    assert 118 <= props.message_expiry_interval <= 120
    assert props.user_properties == ALL_PROPS.user_properties
    assert props.user_property("DUP") == "1"


@pytest.mark.asyncio
async def test_absent_properties_stay_absent(make_options: OptionsFactory, unique_id: str) -> None:
    topic = f"test/{unique_id}/bare"
    inbox = Collector()
    async with Mqtt5Transport(make_options("one")) as t:
        await t.subscribe(Subscription(topic), inbox)
        await t.publish(topic, b"", qos=0)
        await t.publish(topic, b"x", properties=PublishProperties(payload_format_utf8=False))
        bare, flagged = await inbox.get(), await inbox.get()
    assert bare.payload == b""
    assert bare.qos == 0
    assert bare.properties == PublishProperties()
    # A Payload Format Indicator of 0 is MQTT 5's default and is not sent.
    assert flagged.properties.payload_format_utf8 is None


@pytest.mark.asyncio
async def test_no_matching_subscribers_is_success(make_options: OptionsFactory) -> None:
    async with Mqtt5Transport(make_options()) as t:
        codes = [
            await t.publish("test/nobody/listens", b"x", qos=1),
            await t.publish("test/nobody/listens", b"x", qos=2),
        ]
    # PUBACK said 0x10 "No matching subscribers", a success; for QoS 2 the PUBREC
    # said so and the PUBCOMP that completes the flow says 0.
    assert codes == [0x10, 0x00]


@pytest.mark.asyncio
async def test_wildcards_shared_and_every_matching_handler(
    make_options: OptionsFactory, unique_id: str
) -> None:
    base = f"test/{unique_id}"
    plus, hash_, exact, shared = Collector(), Collector(), Collector(), Collector()
    async with Mqtt5Transport(make_options()) as t:
        await t.publish(f"{base}/retained/x", b"old", retain=True)
        await t.subscribe(Subscription(f"{base}/+/x"), plus)
        await t.subscribe(Subscription(f"{base}/#"), hash_)
        await t.subscribe(Subscription(f"{base}/a/x"), exact)
        await t.subscribe(Subscription(f"$share/g1/{base}/retained/#"), shared)
        assert (await plus.until(b"old")).retain  # retained copies go to normal subscriptions
        assert (await hash_.until(b"old")).retain
        await t.publish(f"{base}/a/x", b"1")
        # Overlapping subscriptions: Mosquitto sends one copy per subscription and each
        # copy goes to every matching handler.
        for inbox in (plus, hash_, exact):
            assert not (await inbox.until(b"1")).retain
        await t.publish(f"{base}/retained/y", b"2")
        assert (await shared.get()).payload == b"2"
    # The retained message never reached the $share subscription (Mosquitto < 2.0.13 sends it).
    assert all(not m.retain for m in shared.seen)
    await t.disconnect()  # idempotent


@pytest.mark.asyncio
async def test_no_local_suppresses_own_messages(
    make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/nl"
    mine = Collector()
    async with Mqtt5Transport(make_options("a")) as a, Mqtt5Transport(make_options("b")) as b:
        await a.subscribe(Subscription(topic, no_local=True), mine)
        await a.publish(topic, b"from-a")
        await b.publish(topic, b"from-b")
        assert (await mine.get()).payload == b"from-b"
        await mine.nothing()


@pytest.mark.asyncio
async def test_unsubscribe_stops_delivery(make_options: OptionsFactory, unique_id: str) -> None:
    topic = f"test/{unique_id}/u"
    inbox = Collector()
    async with Mqtt5Transport(make_options()) as t:
        await t.subscribe(Subscription(topic), inbox)
        await t.publish(topic, b"1")
        await inbox.get()
        await t.unsubscribe(topic)
        await t.publish(topic, b"2")
        await inbox.nothing()
        await t.unsubscribe(topic)  # unknown filter: the broker says "no subscription existed"


@pytest.mark.asyncio
async def test_handler_exception_is_logged_and_delivery_continues(
    make_options: OptionsFactory, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"test/{unique_id}/boom"
    inbox = Collector()

    def explode(_message: object) -> None:
        raise RuntimeError("handler bug")

    async with Mqtt5Transport(make_options()) as t:
        await t.subscribe(Subscription(f"test/{unique_id}/#"), explode)
        await t.subscribe(Subscription(topic), inbox)
        await t.publish(topic, b"1")
        await t.publish(topic, b"2")
        await inbox.until(b"1")
        await inbox.until(b"2")
        assert t.connected
    assert "handler bug" in caplog.text


@pytest.mark.asyncio
async def test_tcp_nodelay_is_set(make_options: OptionsFactory) -> None:
    async with Mqtt5Transport(make_options()) as t:
        sock = t._raw_socket()
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


@pytest.mark.asyncio
async def test_lifecycle_no_threads_no_tasks_and_not_reentrant(
    make_options: OptionsFactory,
) -> None:
    threads = threading.active_count()
    t = Mqtt5Transport(make_options())
    assert isinstance(t, MqttTransport)
    changes: list[bool] = []
    t.on_connection_change(changes.append)
    for _ in range(2):  # reusable
        async with t:
            assert t.connected
            assert threading.active_count() == threads
            names = {task.get_name() for task in asyncio.all_tasks()}
            assert f"a2a-mqtt[{t.client_id}].keepalive" in names
            with pytest.raises(RuntimeError, match="reentrant"):
                await t.connect()
        assert not t.connected
    assert changes == [True, False, True, False]
    leftover = [x for x in asyncio.all_tasks() if x.get_name().startswith("a2a-mqtt[")]
    assert leftover == []
    with pytest.raises(NotConnectedError):
        await t.publish("test/closed", b"x")
    with pytest.raises(NotConnectedError):
        await t.wait_connected(0.1)


@pytest.mark.asyncio
async def test_invalid_topic_and_filter_are_config_errors(make_options: OptionsFactory) -> None:
    async with Mqtt5Transport(make_options()) as t:
        with pytest.raises(ConfigError):
            await t.publish("test/+/wild", b"x")
        with pytest.raises(ConfigError):
            await t.subscribe(Subscription("$share/only-group"), Collector())
        with pytest.raises(ConfigError):
            await t.subscribe(Subscription("test/x", qos=3), Collector())


@pytest.mark.asyncio
async def test_factories(make_options: OptionsFactory, unique_id: str) -> None:
    transport = create_transport(make_options("f1"))
    assert not transport.connected
    connected = await connect_transport(make_options("f2"))
    try:
        assert connected.connected
        assert connected.client_id == f"{unique_id}-f2"
    finally:
        await connected.disconnect()


@pytest.mark.asyncio
async def test_qos2_both_ways_with_manual_and_automatic_ack(
    make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/q2"
    auto, manual = Collector(), Collector()
    async with Mqtt5Transport(make_options("a")) as a, Mqtt5Transport(make_options("b")) as b:
        await a.subscribe(Subscription(topic, qos=2), auto)
        await b.subscribe(Subscription(topic, qos=2, manual_ack=True), manual)
        for i in range(3):
            await a.publish(topic, f"m{i}".encode(), qos=2, properties=ALL_PROPS)
        got_auto = [await auto.get() for _ in range(3)]
        got_manual = [await manual.get() for _ in range(3)]
        for message in got_manual:
            assert message.ack is not None
            message.ack()
        await a.publish(topic, b"after", qos=2)
        assert (await manual.get()).payload == b"after"
    assert [m.payload for m in got_auto] == [b"m0", b"m1", b"m2"]
    assert [m.payload for m in got_manual] == [b"m0", b"m1", b"m2"]
    # Expiry counts down inside the broker, so compare everything else.
    expected = replace(ALL_PROPS, message_expiry_interval=None)
    assert all(m.qos == 2 for m in got_auto)
    assert all(replace(m.properties, message_expiry_interval=None) == expected for m in got_auto)
