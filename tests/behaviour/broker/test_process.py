"""The embedded Mosquitto launcher against the real binary.

Broker-level checks use a hand-rolled MQTT 5 CONNECT and the ``mosquitto_pub``
and ``mosquitto_sub`` clients, so they do not depend on our own transport.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from a2a_mqtt.broker import (
    INSTALL_HINT,
    BrokerConfig,
    EmbeddedBroker,
    MosquittoProcess,
    find_mosquitto,
    free_port,
)
from a2a_mqtt.errors import BrokerError, ConfigError
from tests.conftest import BrokerFactory

needs_clients = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None,
    reason="mosquitto_pub/mosquitto_sub (package mosquitto-clients) not installed",
)


def mqtt5_connack(host: str, port: int, client_id: str) -> tuple[int, int]:
    """Send a bare MQTT 5 CONNECT; return (CONNACK packet type byte, reason code)."""
    cid = client_id.encode()
    variable = b"\x00\x04MQTT\x05\x02\x00\x3c\x00"  # v5, clean start, keepalive 60, no props
    payload = len(cid).to_bytes(2, "big") + cid
    body = variable + payload
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        header = sock.recv(2)
        rest = sock.recv(header[1])
    return header[0], rest[1]


def publish_retained(url_port: int, topic: str, payload: str) -> None:
    subprocess.run(
        [
            "mosquitto_pub",
            "-p",
            str(url_port),
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-r",
            "-t",
            topic,
            "-m",
            payload,
        ],
        check=True,
        timeout=10,
    )


def read_retained(port: int, topic: str) -> str:
    result = subprocess.run(
        [
            "mosquitto_sub",
            "-p",
            str(port),
            "-V",
            "mqttv5",
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            "5",
            "--retained-only",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout.strip()


def test_start_gives_a_working_mqtt5_url(broker: MosquittoProcess, unique_id: str) -> None:
    assert broker.running
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    packet_type, reason = mqtt5_connack("127.0.0.1", broker.port, unique_id)
    assert packet_type == 0x20
    assert reason == 0x00
    assert broker.config_path.read_text().count("listener ") == 1
    assert "running" in broker.log_text()


def test_stop_ends_the_process_and_frees_the_port(tmp_path: Path) -> None:
    process = MosquittoProcess(config=BrokerConfig(state_dir=tmp_path))
    process.start()
    port = process.port
    process.stop()
    assert not process.running
    assert process.pid is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    process.stop()  # idempotent


@needs_clients
def test_restart_keeps_the_port_and_retained_messages(
    broker: MosquittoProcess, unique_id: str
) -> None:
    topic = f"test/{unique_id}/card"
    publish_retained(broker.port, topic, "hello")
    port, pid = broker.port, broker.pid
    broker.restart()
    assert broker.port == port
    assert broker.pid != pid
    assert read_retained(broker.port, topic) == "hello"


@needs_clients
def test_kill_then_start_again(broker_factory: BrokerFactory, unique_id: str) -> None:
    # autosave_interval 1 persists within a second, so a crash loses little.
    process = broker_factory(autosave_interval=1)
    topic = f"test/{unique_id}/crash"
    publish_retained(process.port, topic, "survives")
    log_before = process.log_text()
    deadline = time.monotonic() + 5
    # Two saves after the publish: the line is logged before the file is written,
    # so only once the second one starts is the first surely on disk.
    while process.log_text()[len(log_before) :].count("Saving in-memory database") < 2:
        assert time.monotonic() < deadline, "no two autosaves within 5 s"
        time.sleep(0.02)  # polling the log file: there is no event to await
    process.kill()
    assert not process.running
    assert "terminating" not in process.log_text()[len(log_before) :]
    process.start()
    assert process.running
    assert read_retained(process.port, topic) == "survives"


def test_start_twice_is_refused(broker: MosquittoProcess) -> None:
    with pytest.raises(BrokerError, match="already running"):
        broker.start()


def test_port_taken_by_someone_else_is_refused(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process = MosquittoProcess(config=BrokerConfig(state_dir=tmp_path, port=port))
        try:
            with pytest.raises(BrokerError, match=rf"port\(s\) \[{port}\].*already accept"):
                process.start()
        finally:
            process.stop()
    assert not process.running


def test_broker_exit_during_start_reports_the_log_tail(tmp_path: Path) -> None:
    # A password file that does not exist makes Mosquitto 2.0 exit at startup.
    config = BrokerConfig(state_dir=tmp_path, password_file=tmp_path / "missing")
    process = MosquittoProcess(config=config)
    try:
        with pytest.raises(BrokerError, match=r"exited with code \d+.*log tail") as info:
            process.start()
    finally:
        process.stop()
    assert "missing" in str(info.value)
    assert not process.running


def test_auto_port_is_repicked_when_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    taken_port = taken.getsockname()[1]
    picks = iter([taken_port])
    real = free_port

    def fake_free_port(host: str = "127.0.0.1") -> int:
        return next(picks, None) or real(host)

    monkeypatch.setattr("a2a_mqtt.broker.process.free_port", fake_free_port)
    with taken, MosquittoProcess(config=BrokerConfig(state_dir=tmp_path)) as process:
        assert process.running
        assert process.port != taken_port


def test_missing_binary_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        find_mosquitto(tmp_path / "no-such-mosquitto")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("a2a_mqtt.broker.process._SEARCH_DIRS", (str(tmp_path),))
    with pytest.raises(BrokerError, match="sudo apt-get install mosquitto") as info:
        find_mosquitto()
    assert INSTALL_HINT in str(info.value)
    process = MosquittoProcess(config=BrokerConfig(state_dir=tmp_path))
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        process.start()


def test_state_dir_is_required() -> None:
    with pytest.raises(ConfigError, match="state_dir"):
        MosquittoProcess(config=BrokerConfig())


def test_websockets_listener_comes_up_with_tcp(tmp_path: Path) -> None:
    config = BrokerConfig(state_dir=tmp_path, websockets_port=free_port())
    with MosquittoProcess(config=config) as process:
        assert process.ws_url == f"ws://127.0.0.1:{config.websockets_port}/mqtt"
        assert config.websockets_port is not None
        with socket.create_connection(("127.0.0.1", config.websockets_port), timeout=2):
            pass


@pytest.mark.asyncio
async def test_embedded_broker_uses_and_removes_a_temp_dir(unique_id: str) -> None:
    threads_before = threading.active_count()
    async with EmbeddedBroker() as embedded:
        state_dir = embedded.process.state_dir
        assert state_dir.is_dir()
        assert embedded.url == f"mqtt://127.0.0.1:{embedded.port}"
        _reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        writer.close()
        await writer.wait_closed()
        packet_type, reason = mqtt5_connack("127.0.0.1", embedded.port, unique_id)
        assert (packet_type, reason) == (0x20, 0)
        assert threading.active_count() == threads_before
        process = embedded.process
    assert not process.running
    assert not state_dir.exists()


@pytest.mark.asyncio
async def test_embedded_broker_keeps_a_given_state_dir(tmp_path: Path) -> None:
    async with EmbeddedBroker(state_dir=tmp_path / "state") as embedded:
        assert embedded.process.state_dir == tmp_path / "state"
    assert (tmp_path / "state" / "mosquitto.conf").exists()
    assert (tmp_path / "state" / "mosquitto.db").exists()


@pytest.mark.asyncio
async def test_embedded_broker_missing_binary(tmp_path: Path) -> None:
    embedded = EmbeddedBroker(binary=tmp_path / "nope")
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        await embedded.start()
    with pytest.raises(BrokerError, match="not started"):
        _ = embedded.url
