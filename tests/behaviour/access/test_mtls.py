"""``--mtls``: a client certificate from the local CA is required on top of the password."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from a2a_mqtt.access import Identity
from a2a_mqtt.access.credentials import load_profile
from a2a_mqtt.broker.secure import SecureBroker, SecureBrokerConfig
from a2a_mqtt.errors import ConnectError
from a2a_mqtt.transport import Mqtt5Transport

pytestmark = pytest.mark.asyncio

AGENT = Identity.parse("acme/line1/press", "agent")


async def test_mtls_needs_a_certificate_and_the_password(tmp_path: Path) -> None:
    config = SecureBrokerConfig(state_dir=tmp_path / "s", identities=(AGENT,), mtls=True)
    async with SecureBroker(config) as broker:
        creds = broker.credentials(AGENT)
        assert creds.cert_file and creds.key_file
        t = Mqtt5Transport(broker.connect_options(creds))
        await t.connect()
        await t.disconnect()
        no_cert = dataclasses.replace(creds, cert_file=None, key_file=None)
        with pytest.raises(ConnectError):
            await Mqtt5Transport(broker.connect_options(no_cert, connect_timeout=5.0)).connect()
        no_password = dataclasses.replace(creds, password="wrong")
        with pytest.raises(ConnectError):
            await Mqtt5Transport(broker.connect_options(no_password)).connect()
        # Runtime management works through the admin's own certificate, which the
        # admin profile (for `a2a-mqtt identity`) carries too.
        assert load_profile("admin", broker.profiles_file).cert_file
        added = await broker.add_identity(Identity.parse("acme/line1/op", "requester"))
        t = Mqtt5Transport(broker.connect_options(added))
        await t.connect()
        await t.disconnect()
