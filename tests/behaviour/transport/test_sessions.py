"""Sessions, reconnects, wills and manual acknowledgement against a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.errors import TransportTimeout
from a2a_mqtt.transport import Mqtt5Transport, PublishProperties, Subscription, Will
from tests.behaviour.transport.conftest import Collector, OptionsFactory, options_for
from tests.conftest import BrokerFactory

DURABLE = {"clean_start": False, "session_expiry_interval": 300}


class Changes:
    """Records connection changes and lets a test await the next one."""

    def __init__(self) -> None:
        self.history: list[bool] = []
        self._queue: asyncio.Queue[bool] = asyncio.Queue()

    def __call__(self, up: bool) -> None:
        self.history.append(up)
        self._queue.put_nowait(up)

    async def next(self, timeout: float = 10.0) -> bool:
        return await asyncio.wait_for(self._queue.get(), timeout)


@pytest.mark.asyncio
async def test_reconnect_after_broker_restart_restores_subscriptions(
    broker: MosquittoProcess, make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/after-restart"
    inbox, sub_changes, pub_changes = Collector(), Changes(), Changes()
    async with (
        Mqtt5Transport(make_options("sub")) as sub,
        Mqtt5Transport(make_options("pub")) as pub,
    ):
        sub.on_connection_change(sub_changes)
        pub.on_connection_change(pub_changes)
        await sub.subscribe(Subscription(topic), inbox)
        broker.restart()
        assert await sub_changes.next() is False
        assert await sub_changes.next() is True
        assert await pub_changes.next() is False
        assert await pub_changes.next() is True
        assert sub.connected
        assert pub.connected
        await pub.publish(topic, b"back")
        assert (await inbox.get()).payload == b"back"
        tasks = {t.get_name() for t in asyncio.all_tasks()}
        assert f"a2a-mqtt[{sub.client_id}].reconnect" not in tasks  # finished


@pytest.mark.asyncio
async def test_publish_while_broker_down_waits_for_the_reconnect(
    broker: MosquittoProcess, make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/queued"
    changes = Changes()
    async with Mqtt5Transport(make_options("pub")) as pub:
        pub.on_connection_change(changes)
        broker.kill()
        assert await changes.next() is False
        pending = asyncio.create_task(pub.publish(topic, b"late", qos=1, retain=True))
        done, _ = await asyncio.wait({pending}, timeout=0.2)
        assert not done  # still waiting for the broker
        broker.start()
        await asyncio.wait_for(pending, 10)
        assert await changes.next() is True
    inbox = Collector()
    async with Mqtt5Transport(make_options("sub")) as sub:
        await sub.subscribe(Subscription(topic), inbox)
        assert (await inbox.get()).payload == b"late"


@pytest.mark.asyncio
async def test_publish_gives_up_after_ack_timeout(
    broker: MosquittoProcess, make_options: OptionsFactory
) -> None:
    changes = Changes()
    async with Mqtt5Transport(make_options(ack_timeout=0.3)) as t:
        t.on_connection_change(changes)
        broker.kill()
        assert await changes.next() is False
        with pytest.raises(TransportTimeout):
            await t.publish("test/x", b"never", qos=1)
        with pytest.raises(TransportTimeout):
            await t.wait_connected(0.1)


@pytest.mark.asyncio
async def test_persistent_session_gets_what_was_published_while_away(
    make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/durable"
    first = Collector()
    async with Mqtt5Transport(make_options("worker", **DURABLE)) as worker:
        await worker.subscribe(Subscription(topic, qos=1), first)
    async with Mqtt5Transport(make_options("pub")) as pub:
        for i in range(5):
            await pub.publish(topic, f"m{i}".encode(), qos=1)
    again = Collector()
    worker = Mqtt5Transport(make_options("worker", **DURABLE))
    await worker.subscribe(Subscription(topic, qos=1), again)  # declared before connect
    async with worker:
        got = [(await again.get()).payload for _ in range(5)]
    assert got == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert first.seen == []


@pytest.mark.asyncio
async def test_manual_ack_unacked_message_is_redelivered(
    make_options: OptionsFactory, unique_id: str
) -> None:
    topic = f"test/{unique_id}/jobs"
    sub = Subscription(topic, qos=1, manual_ack=True)
    async with Mqtt5Transport(make_options("pub")) as pub:
        inbox = Collector()
        worker = Mqtt5Transport(make_options("worker", **DURABLE))
        await worker.subscribe(sub, inbox)
        async with worker:
            await pub.publish(topic, b"job-1")
            first = await inbox.get()
            assert first.payload == b"job-1"
            assert first.ack is not None  # ...and deliberately not called
        inbox = Collector()
        worker = Mqtt5Transport(make_options("worker", **DURABLE))
        await worker.subscribe(sub, inbox)
        async with worker:
            again = await inbox.get()
            assert again.payload == b"job-1"
            assert again.ack is not None
            again.ack()
            again.ack()  # idempotent
            await pub.publish(topic, b"job-2")
            second = await inbox.get()
            assert second.payload == b"job-2"
            assert second.ack is not None
            second.ack()
        inbox = Collector()
        worker = Mqtt5Transport(make_options("worker", **DURABLE))
        await worker.subscribe(sub, inbox)
        async with worker:
            await pub.publish(topic, b"job-3")
            assert (await inbox.get()).payload == b"job-3"  # job-1 and job-2 stayed acked


@pytest.mark.asyncio
async def test_will_and_retained_after_the_client_process_is_killed(
    broker: MosquittoProcess, make_options: OptionsFactory, unique_id: str
) -> None:
    status = f"test/{unique_id}/status"
    will_topic = f"test/{unique_id}/will"
    child_id = f"{unique_id}-child"
    script = textwrap.dedent(
        f"""
        import asyncio
        from a2a_mqtt.transport import *

        async def main():
            will = Will(topic={will_topic!r}, payload=b"gone", qos=1, retain=True,
                        properties=PublishProperties(user_properties=(("status", "offline"),)))
            options = ConnectOptions(url=BrokerURL.parse({broker.url!r}),
                                     client_id={child_id!r}, will=will)
            async with Mqtt5Transport(options) as t:
                await t.publish({status!r}, b"online", qos=1, retain=True)
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    live, online = Collector(), Collector()
    async with Mqtt5Transport(make_options("watch")) as watcher:
        await watcher.subscribe(Subscription(will_topic), live)
        await watcher.subscribe(Subscription(status), online)
        child = subprocess.Popen([sys.executable, "-c", script])
        try:
            assert (await online.get(timeout=15)).payload == b"online"
            os.kill(child.pid, signal.SIGKILL)  # no DISCONNECT: the broker sees a dead socket
        finally:
            child.kill()
            child.wait(5)
        will = await live.get()
    assert will.payload == b"gone"
    assert will.properties.user_properties == (("status", "offline"),)
    late = Collector()
    async with Mqtt5Transport(make_options("late")) as t:
        await t.subscribe(Subscription(will_topic), late)
        kept = await late.get()
    assert kept.retain
    assert kept.payload == b"gone"


@pytest.mark.asyncio
async def test_disconnect_with_will_and_will_delay(
    make_options: OptionsFactory, unique_id: str
) -> None:
    will_topic = f"test/{unique_id}/will"
    will = Will(
        topic=will_topic,
        payload=b"bye",
        retain=False,
        delay_interval=1,
        properties=PublishProperties(content_type="text/plain"),
    )
    inbox = Collector()
    async with Mqtt5Transport(make_options("watch")) as watcher:
        await watcher.subscribe(Subscription(will_topic), inbox)
        async with Mqtt5Transport(make_options("quiet", will=will)):
            pass  # normal DISCONNECT: no will
        dying = Mqtt5Transport(make_options("dying", will=will))
        await dying.connect()
        await dying.disconnect(send_will=True)
        message = await inbox.get(timeout=10)
        assert message.payload == b"bye"
        assert message.properties.content_type == "text/plain"
        await inbox.nothing()


@pytest.mark.asyncio
async def test_inflight_publishes_are_resent_after_a_broker_crash(
    broker_factory: BrokerFactory, unique_id: str
) -> None:
    crashing = broker_factory(max_inflight_messages=20)
    make = options_for(crashing, unique_id)
    topic = f"test/{unique_id}/resend"
    changes = Changes()
    async with Mqtt5Transport(make("pub")) as pub:
        pub.on_connection_change(changes)
        publishes = [asyncio.create_task(pub.publish(topic, b"%d" % i)) for i in range(200)]
        first = await asyncio.wait(publishes, return_when=asyncio.FIRST_COMPLETED, timeout=10)
        assert first[0]
        crashing.kill()  # most of the 200 are in flight (window 20) or queued in paho
        assert await changes.next() is False
        unfinished = sum(not p.done() for p in publishes)
        crashing.start()
        assert await changes.next() is True
        await asyncio.wait_for(asyncio.gather(*publishes), 15)
    assert unfinished > 0
