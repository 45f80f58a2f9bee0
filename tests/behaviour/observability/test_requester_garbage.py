"""A requester with metrics on leaves no reference cycle per call (a real agent, a real
broker): a unary call ends with its generator's GeneratorExit, and a kept exception
(exception -> traceback -> frame -> the local holding it) would keep the whole call
alive until the cyclic collector ran (docs/performance.md, "Observability: what
metrics cost")."""

from __future__ import annotations

import gc
import uuid

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import Requester
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.client import ClientCall
from a2a_mqtt.observability.metrics import Metrics
from tests.behaviour.conftest import requester_config, serve

pytestmark = pytest.mark.asyncio

CALLS = 20


def _params() -> dict[str, object]:
    return {"message": {"messageId": str(uuid.uuid4()), "role": "ROLE_USER",
                        "parts": [{"text": "hi"}], "taskId": str(uuid.uuid4())}}


async def test_unary_calls_with_metrics_leave_no_cycle_of_their_own(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    metrics = Metrics(service="test-client")
    async with (serve(broker.url, ref, EchoExecutor(), echo_card()),
                Requester(requester_config(broker.url), metrics=metrics) as requester):
        await requester.call(ref, "SendMessage", _params())  # warm: imports, caches
        enabled = gc.isenabled()
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # unreachable objects land in gc.garbage
        try:
            for _ in range(CALLS):
                await requester.call(ref, "SendMessage", _params())
            # The last call's generator is closed by a task the loop runs next: one more
            # round trip runs it (the loop turns many times in a call).
            await requester.call(ref, "SendMessage", _params())
            gc.collect()
            ours = [o for o in gc.garbage if isinstance(o, ClientCall | GeneratorExit)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            if enabled:
                gc.enable()
    assert ours == []
    # ... and every call was still counted, as ok.
    assert metrics.sum(N.CLIENT_CALLS).value(("a2a", "SendMessage", "ok", "")) == CALLS + 2
