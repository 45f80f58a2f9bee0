"""An agent with worker processes on a secure broker: one login binds one Client ID, so
each worker logs in as the identity's worker login ``{ref}.wK`` (``identity add
--workers N``), while the supervisor holds the card under the agent's own login."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.access import Identity
from a2a_mqtt.broker.secure import SecureBroker
from a2a_mqtt.client import A2AMqttClient
from tests.behaviour.access.conftest import CAST, requester_settings
from tests.behaviour.conftest import requester_config, text
from tests.behaviour.pool.test_pool import wait_online
from tests.behaviour.server.test_workers import children, pids_of, ready, served, until

pytestmark = pytest.mark.asyncio


async def test_workers_serve_under_their_worker_logins(secure: SecureBroker,
                                                       tmp_path: Path) -> None:
    agent = Identity.parse("acme/line1/multi", "agent", workers=2)
    creds = await secure.add_identity(agent)
    assert creds.password is not None and creds.ca_file is not None
    env = {"TEST_AGENT_USERNAME": creds.username or "", "TEST_AGENT_PASSWORD": creds.password,
           "TEST_AGENT_CA_FILE": str(creds.ca_file)}
    async with served(secure.url, agent.ref, tmp_path, dispatch="partition",
                      env=env) as (proc, log), \
            A2AMqttClient(requester_config(secure.url, reply_first_timeout=30,
                                           **requester_settings(secure, CAST["operator"]))) as mqtt:
        await wait_online(mqtt, [agent.ref])
        await until(lambda: ready(log))
        t = mqtt.transport_for(agent.ref)
        results = await asyncio.gather(*(t.send_message(text(f"r{i}")) for i in range(12)))
        assert all(r.task.status.state == TaskState.TASK_STATE_COMPLETED for r in results)
        # Both workers connected (a refused login would have failed its start) and served.
        assert set(pids_of(log)) == children(proc.pid)
        assert len(children(proc.pid)) == 2
