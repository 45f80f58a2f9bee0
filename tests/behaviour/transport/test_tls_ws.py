"""TLS (mqtts://) and WebSockets (ws://) connections, opened without blocking the loop."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from a2a_mqtt.broker import free_port
from a2a_mqtt.errors import ConnectError
from a2a_mqtt.transport import (
    BrokerURL,
    ConnectOptions,
    Mqtt5Transport,
    Subscription,
    TLSConfig,
)
from tests.behaviour.transport.conftest import Collector
from tests.conftest import BrokerFactory

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (SAN IP) and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


async def round_trip(url: BrokerURL, client_id: str, tls: TLSConfig | None = None) -> bytes:
    inbox = Collector()
    async with Mqtt5Transport(ConnectOptions(url=url, client_id=client_id, tls=tls)) as t:
        await t.subscribe(Subscription(f"test/{client_id}"), inbox)
        await t.publish(f"test/{client_id}", b"over the wire", qos=1)
        assert t._raw_socket() is not None
        return (await inbox.get()).payload


@needs_openssl
@pytest.mark.asyncio
async def test_tls_listener(broker_factory: BrokerFactory, tmp_path: Path, unique_id: str) -> None:
    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    broker_factory(tls_port=tls_port, tls_certfile=cert, tls_keyfile=key)
    url = BrokerURL.parse(f"mqtts://127.0.0.1:{tls_port}")
    payload = await round_trip(url, unique_id, TLSConfig(ca_file=str(cert)))
    assert payload == b"over the wire"
    # Without trusting the self-signed certificate the handshake fails cleanly.
    untrusted = Mqtt5Transport(ConnectOptions(url=url, client_id=f"{unique_id}-x"))
    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.connect()
    insecure = TLSConfig(insecure_skip_verify=True)
    assert await round_trip(url, f"{unique_id}-i", insecure) == b"over the wire"


@pytest.mark.asyncio
async def test_websockets_listener(broker_factory: BrokerFactory, unique_id: str) -> None:
    ws_port = free_port()
    broker_factory(websockets_port=ws_port)
    url = BrokerURL.parse(f"ws://127.0.0.1:{ws_port}/mqtt")
    assert await round_trip(url, unique_id) == b"over the wire"
