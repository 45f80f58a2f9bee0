"""The requester honours an overloaded responder's ``retry-after`` hint, on a real broker.

The responder is a tiny raw MQTT peer built here: it answers the first request
with -32004 ``responder_unavailable`` and a ``retry-after`` User Property, and
later ones with a result, recording when each request arrived. The last test
saturates a real agent (``max_pending=1``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from a2a.client.errors import A2AClientTimeoutError
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.codes import BindingErrorKind, binding_error_object
from a2a_mqtt.binding.envelope import encode_error, encode_result
from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient, OverloadedError, Requester
from a2a_mqtt.client.retry import RETRY_AFTER
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.transport import ConnectOptions, IncomingMessage, Mqtt5Transport, Subscription
from a2a_mqtt.transport.base import BrokerURL, PublishProperties
from tests.behaviour.conftest import requester_config, serve, text

pytestmark = pytest.mark.asyncio


class BusyThenFine:
    """Answers the first ``busy`` requests -32004 with ``retry-after: hint``, then a result."""

    def __init__(self, transport: Mqtt5Transport, *, busy: int, hint: str) -> None:
        self.transport = transport
        self.busy = busy
        self.hint = hint
        self.arrivals: list[float] = []
        self.corrs: list[bytes | None] = []

    def on_request(self, msg: IncomingMessage) -> None:
        self.arrivals.append(asyncio.get_running_loop().time())
        self.corrs.append(msg.properties.correlation_data)
        asyncio.get_running_loop().create_task(self._answer(msg), name="test.busy-answer")

    async def _answer(self, msg: IncomingMessage) -> None:
        rid = json.loads(msg.payload)["id"]
        corr = msg.properties.correlation_data
        base = P.reply_properties(correlation_data=corr, end=True)
        if len(self.arrivals) <= self.busy:
            payload = encode_error(rid, binding_error_object(
                BindingErrorKind.RESPONDER_UNAVAILABLE, "agent overloaded; retry later"))
            props = PublishProperties(
                correlation_data=corr, content_type=base.content_type,
                payload_format_utf8=True,
                user_properties=(*base.user_properties, (RETRY_AFTER, self.hint)))
        else:
            payload, props = encode_result(rid, {"ok": len(self.arrivals)}), base
        assert msg.properties.response_topic is not None
        await self.transport.publish(msg.properties.response_topic, payload, qos=1,
                                     properties=props)


@asynccontextmanager
async def busy_agent(url: str, ref: AgentRef, *, busy: int = 1,
                     hint: str = "0.6") -> AsyncIterator[BusyThenFine]:
    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url),
                                             client_id=ref.client_id))
    agent = BusyThenFine(transport, busy=busy, hint=hint)
    await transport.subscribe(Subscription(request_topic(ref), qos=1), agent.on_request)
    async with transport:
        yield agent


async def test_retry_waits_the_hint_not_the_backoff(broker: MosquittoProcess,
                                                    ref: AgentRef) -> None:
    # The backoff (8 s) would blow the 4 s budget: only the 0.6 s hint fits.
    cfg = requester_config(broker.url, max_attempts=3, backoff=(8.0,), jitter=0.2)
    async with busy_agent(broker.url, ref, hint="0.6") as agent, Requester(cfg) as req:
        async with asyncio.timeout(4):
            result = await req.call(ref, "GetTask", {"id": "t"})
    assert result == {"ok": 2}
    assert len(agent.arrivals) == 2 and agent.corrs[0] != agent.corrs[1]
    gap = agent.arrivals[1] - agent.arrivals[0]
    assert 0.6 <= gap < 0.6 * 1.2 + 1.0, gap  # never sooner; the jitter adds at most 20 %


async def test_the_hint_is_surfaced_when_no_retry_is_left(broker: MosquittoProcess,
                                                          ref: AgentRef) -> None:
    cfg = requester_config(broker.url, max_attempts=1)
    async with busy_agent(broker.url, ref, hint="2.5") as agent, Requester(cfg) as req:
        with pytest.raises(OverloadedError) as caught:
            await req.call(ref, "GetTask", {"id": "t"})
    assert caught.value.retry_after == 2.5
    assert len(agent.arrivals) == 1


async def test_a_hint_beyond_the_bound_is_surfaced_at_once(broker: MosquittoProcess,
                                                           ref: AgentRef) -> None:
    cfg = requester_config(broker.url, max_attempts=3, max_retry_after=5.0)
    async with busy_agent(broker.url, ref, hint="60") as agent, Requester(cfg) as req:
        async with asyncio.timeout(3):
            with pytest.raises(OverloadedError) as caught:
                await req.call(ref, "GetTask", {"id": "t"})
    assert caught.value.retry_after == 60.0
    assert len(agent.arrivals) == 1  # no retry: waiting a minute is not ours to decide


async def test_a_garbage_hint_falls_back_to_the_backoff(broker: MosquittoProcess,
                                                        ref: AgentRef) -> None:
    cfg = requester_config(broker.url, max_attempts=2, backoff=(0.05,))
    async with busy_agent(broker.url, ref, hint="soon") as agent, Requester(cfg) as req:
        result = await req.call(ref, "GetTask", {"id": "t"})
    assert result == {"ok": 2} and len(agent.arrivals) == 2


async def test_a_call_leaves_no_state_behind_and_late_replies_are_ignored(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    # Nobody answers: a spy only records each attempt's Correlation Data.
    cfg = requester_config(broker.url, max_attempts=2, reply_first_timeout=0.3,
                           backoff=(0.05,))
    async with Requester(cfg) as req:
        seen: list[bytes | None] = []
        spy = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(broker.url),
                                           client_id=f"{ref.client_id}-spy"))
        await spy.subscribe(Subscription(request_topic(ref), qos=1),
                            lambda m: seen.append(m.properties.correlation_data))
        async with spy:
            with pytest.raises(A2AClientTimeoutError):
                await req.call(ref, "GetTask", {"id": "t"})
            assert req._calls == {}  # every attempt's Correlation Data forgotten
            # Late answers to both attempts: ignored, and the requester still works.
            for corr in seen:
                await spy.publish(req.reply_topic, encode_result("x", {"late": True}), qos=1,
                                  properties=P.reply_properties(correlation_data=corr,
                                                                end=True))
            await req.barrier()
            assert len(seen) == 2 and req._calls == {}


async def test_against_a_saturated_agent_the_hint_is_surfaced_or_waited_out(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), max_pending=1,
                     max_concurrency=1, overload_retry_after=1):
        async with A2AMqttClient(requester_config(broker.url, max_attempts=1)) as impatient:
            t = impatient.transport_for(ref)
            results = await asyncio.gather(
                *(t.send_message(text(f"slow {i}", metadata={"delay": 0.5})) for i in range(3)),
                return_exceptions=True)
        refused = [r for r in results if isinstance(r, BaseException)]
        assert refused and all(isinstance(r, OverloadedError) and r.retry_after == 1.0
                               for r in refused), results
        patient_cfg = requester_config(broker.url, max_attempts=6, backoff=(0.05,))
        async with A2AMqttClient(patient_cfg) as patient:
            t = patient.transport_for(ref)
            started = asyncio.get_running_loop().time()
            done = await asyncio.gather(
                *(t.send_message(text(f"slow {i}", metadata={"delay": 0.5})) for i in range(3)))
            took = asyncio.get_running_loop().time() - started
    assert [d.task.status.state for d in done] == [TaskState.TASK_STATE_COMPLETED] * 3
    assert took >= 1.0  # at least one refusal waited out its hint, not the 50 ms backoff
