"""Refusals (credentials, ACL) and flow control against a real Mosquitto."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from a2a_mqtt.broker import MosquittoProcess, free_port
from a2a_mqtt.errors import ConnectError, PublishError
from a2a_mqtt.transport import BrokerURL, ConnectOptions, Mqtt5Transport, Subscription
from tests.behaviour.transport.conftest import Collector, options_for
from tests.conftest import BrokerFactory

HAS_PASSWD = shutil.which("mosquitto_passwd") is not None


def secured_broker(factory: BrokerFactory, tmp_path: Path) -> MosquittoProcess:
    """A broker where user alice may only use ``allowed/#`` (anonymous: same ACL)."""
    acl = tmp_path / "acl"
    if HAS_PASSWD:
        passwd = tmp_path / "passwd"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(passwd), "alice", "s3cret"],
            check=True,
            timeout=10,
        )
        acl.write_text("user alice\ntopic readwrite allowed/#\n")
        return factory(password_file=passwd, acl_file=acl)
    # Without mosquitto_passwd: anonymous clients, restricted by the ACL's top section.
    acl.write_text("topic readwrite allowed/#\n")
    return factory(allow_anonymous=True, acl_file=acl)


def credentials() -> dict[str, str]:
    return {"username": "alice", "password": "s3cret"} if HAS_PASSWD else {}


@pytest.mark.asyncio
async def test_acl_denied_publish_raises_publish_error(
    broker_factory: BrokerFactory, tmp_path: Path, unique_id: str
) -> None:
    secured = secured_broker(broker_factory, tmp_path)
    make = options_for(secured, unique_id)
    inbox = Collector()
    async with Mqtt5Transport(make(**credentials())) as t:
        await t.subscribe(Subscription(f"allowed/{unique_id}"), inbox)
        await t.publish(f"allowed/{unique_id}", b"fine", qos=1)
        assert (await inbox.get()).payload == b"fine"
        with pytest.raises(PublishError) as info:
            await t.publish(f"denied/{unique_id}", b"nope", qos=1)
        assert info.value.reason_code == 0x87
        assert "not authorized" in str(info.value)
        with pytest.raises(PublishError) as info:
            await t.publish(f"denied/{unique_id}", b"nope", qos=2)
        assert info.value.reason_code == 0x87  # from PUBREC: the QoS 2 flow ends there
        assert t.connected  # a refused publish does not cost the connection
        await t.publish(f"allowed/{unique_id}", b"still fine", qos=1)


@pytest.mark.skipif(not HAS_PASSWD, reason="mosquitto_passwd not installed")
@pytest.mark.asyncio
async def test_bad_credentials_raise_connect_error(
    broker_factory: BrokerFactory, tmp_path: Path, unique_id: str
) -> None:
    secured = secured_broker(broker_factory, tmp_path)
    make = options_for(secured, unique_id)
    t = Mqtt5Transport(make(username="alice", password="wrong"))
    with pytest.raises(ConnectError) as info:
        await t.connect()
    assert info.value.reason_code in (0x86, 0x87)
    assert not t.connected
    # Credentials in the URL work too.
    url = BrokerURL.parse(f"mqtt://alice:s3cret@127.0.0.1:{secured.port}")
    async with Mqtt5Transport(ConnectOptions(url=url, client_id=f"{unique_id}-url")) as ok:
        assert ok.connected


@pytest.mark.asyncio
async def test_unreachable_broker_raises_connect_error(unique_id: str) -> None:
    url = BrokerURL.parse(f"mqtt://127.0.0.1:{free_port()}")
    t = Mqtt5Transport(ConnectOptions(url=url, client_id=unique_id, connect_timeout=2))
    with pytest.raises(ConnectError, match="cannot connect"):
        await t.connect()
    assert [x for x in asyncio.all_tasks() if x.get_name().startswith("a2a-mqtt[")] == []


@pytest.mark.asyncio
async def test_300_concurrent_qos1_publishes_respect_receive_maximum_20(
    broker_factory: BrokerFactory, unique_id: str
) -> None:
    small = broker_factory(max_inflight_messages=20)
    make = options_for(small, unique_id)
    topic = f"test/{unique_id}/burst"
    inbox = Collector()
    changes: list[bool] = []
    async with Mqtt5Transport(make("sub")) as sub, Mqtt5Transport(make("pub")) as pub:
        pub.on_connection_change(changes.append)
        await sub.subscribe(Subscription(topic, qos=1), inbox)
        assert pub.send_window == 20  # min(1000, CONNACK Receive Maximum 20)
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, pub.in_flight)
                await asyncio.sleep(0)

        sampler = asyncio.create_task(sample())
        await asyncio.wait_for(
            asyncio.gather(*(pub.publish(topic, str(i).encode(), qos=1) for i in range(300))),
            30,
        )
        sampler.cancel()
        received = {int((await inbox.get()).payload) for _ in range(300)}
    assert received == set(range(300))
    assert 0 < peak <= 20
    assert changes == [False]  # only the final disconnect: never dropped on the way
    assert "Receive Maximum" not in small.log_text()
