"""Identities change while the broker runs; the new policy applies at once."""

from __future__ import annotations

import asyncio

import pytest

from a2a_mqtt.access import Identity
from a2a_mqtt.broker.secure import SecureBroker
from a2a_mqtt.errors import ConnectError, PublishError
from a2a_mqtt.transport import Mqtt5Transport

pytestmark = pytest.mark.asyncio

NEWCOMER = Identity.parse("initech/lab/probe", "agent")


async def test_added_identity_connects_within_its_policy_and_removal_locks_it_out(
        secure: SecureBroker) -> None:
    creds = await secure.add_identity(NEWCOMER)
    assert creds.password and creds.client_id == "initech/lab/probe"
    t = Mqtt5Transport(secure.connect_options(creds, reconnect_max_delay=0.2))
    lost = asyncio.Event()
    t.on_connection_change(lambda up: None if up else lost.set())
    await t.connect()
    try:
        await t.publish("$a2a/v1/discovery/initech/lab/probe", b"{}", qos=1)
        with pytest.raises(PublishError):
            await t.publish("$a2a/v1/discovery/initech/lab/other", b"{}", qos=1)
        await secure.remove_identity(NEWCOMER)
        if secure.config.auth == "dynsec":
            # The plugin disconnects a deleted client at once.
            await asyncio.wait_for(lost.wait(), 5)
    finally:
        await t.disconnect()
    with pytest.raises(ConnectError):
        await Mqtt5Transport(secure.connect_options(creds)).connect()


async def test_restart_keeps_identities(secure: SecureBroker) -> None:
    creds = await secure.add_identity(NEWCOMER)
    secure.embedded.process.restart()  # same port and state directory
    t = Mqtt5Transport(secure.connect_options(creds))
    await t.connect()
    await t.disconnect()
