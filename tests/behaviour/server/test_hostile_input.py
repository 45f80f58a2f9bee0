"""One hostile request at a time (issue #9): the agent answers what it may, publishes
only under ``$a2a/v1/reply/``, stays connected, leaves nothing behind and never lets
one bad request spoil another."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part
from sqlalchemy.ext.asyncio import create_async_engine

from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import CancellableExecutor, EchoExecutor, echo_card
from a2a_mqtt.server.inflight import DatabaseInflightLog, InflightEntry
from a2a_mqtt.transport import ConnectOptions, IncomingMessage, Mqtt5Transport, Subscription
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import serve
from tests.behaviour.server.test_bad_input import GOOD, raw_peer, rpc

pytestmark = pytest.mark.asyncio
V1 = (("a2a-version", "1.0"),)


def good_send(text: str = "ok", *, method: str = "SendMessage") -> bytes:
    params = json.loads(json.dumps(GOOD))
    params["message"]["taskId"] = str(uuid.uuid4())
    params["message"]["parts"] = [{"text": text}]
    return rpc(method, params, rid=str(uuid.uuid4()))


class Observer:
    """Sees every publish on the broker (``#`` misses ``$`` topics, so ``$a2a/#`` too)."""

    def __init__(self) -> None:
        self.seen: list[IncomingMessage] = []

    def on(self, msg: IncomingMessage) -> None:
        self.seen.append(msg)

    def topics(self) -> set[str]:
        return {m.topic for m in self.seen}


@asynccontextmanager
async def observer(url: str, name: str) -> AsyncIterator[Observer]:
    watch = Observer()
    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url),
                                             client_id=f"test/observers/{name}"))
    for topic_filter in ("#", "$a2a/#"):
        await transport.subscribe(Subscription(topic_filter, qos=0), watch.on)
    async with transport:
        yield watch


REFLECTED = ["$a2a/v1/discovery/test/unit/victim", "$a2a/v1/request/test/unit/victim",
             "plain/topic", "$SYS/broker/x", "#", "+", "$a2a/v1/reply/", "$a2a/v1/reply/a/+/b",
             "$a2a/v1/reply/a/#", "$a2a/v1/replyx/a"]


async def test_replies_never_leave_the_reply_space_and_the_agent_stays_online(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    async with observer(broker.url, unique_id) as watch, \
            serve(broker.url, ref, EchoExecutor(), echo_card()), \
            raw_peer(broker.url, unique_id) as peer:
        with caplog.at_level(logging.WARNING, logger="a2a_mqtt.server"):
            for topic in REFLECTED:
                for payload in (good_send(), good_send(method="SendStreamingMessage"),
                                rpc("GetTask", {"id": "x"}), b"garbage"):
                    peer.reply_topic = topic
                    await peer.send(request_topic(ref), payload, user_properties=V1)
            peer.reply_topic = f"$a2a/v1/reply/test/peers/{unique_id}/r"
            await peer.send(request_topic(ref), good_send("health"), user_properties=V1)
            health = await peer.reply()
        assert health["result"]["task"]["artifacts"][0]["parts"][0]["text"] == "health"
        assert peer.replies.empty()
    refused = [r for r in caplog.records if "refused, not answered" in r.getMessage()]
    # Logged once per topic: the repeats are counted (a2a_mqtt.server.refused), not logged.
    assert len(refused) == len(REFLECTED)
    allowed = {request_topic(ref), discovery_topic(ref), peer.reply_topic}
    assert watch.topics() - allowed == set()
    cards = [m for m in watch.seen if m.topic == discovery_topic(ref)]
    # online at start, offline at the graceful stop: never the will (a disconnect).
    assert [m.properties.user_property("a2a-status-source") for m in cards] == ["agent", "agent"]


async def test_a_refused_request_is_acknowledged_not_redelivered(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    async with raw_peer(broker.url, unique_id) as peer:
        with caplog.at_level(logging.WARNING, logger="a2a_mqtt.server"):
            async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=60):
                good = peer.reply_topic
                peer.reply_topic = "$SYS/broker/x"
                await peer.send(request_topic(ref), good_send(), user_properties=V1)
                peer.reply_topic = good
                await peer.send(request_topic(ref), good_send(), user_properties=V1)
                await peer.reply()
            # The same session again: an unacknowledged request would come back first.
            async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=60):
                await peer.send(request_topic(ref), good_send(), user_properties=V1)
                await peer.reply()
    refused = [r for r in caplog.records if "refused, not answered" in r.getMessage()]
    assert len(refused) == 1


@pytest.mark.parametrize(("payload", "code", "rid"), [
    (b'{"jsonrpc":"2.0","id":"\\ud800","method":"SendMessage","params":{}}', -32700, None),
    (rpc("SendMessage", {**GOOD, "metadata": {"k": "\ud800"}}, rid="s1"), -32602, "s1"),
    (rpc("SendMessage", {"message": {**GOOD["message"], "parts": [{"text": "a\x00b"}]}},
         rid="s2"), -32602, "s2"),
    (b'{"jsonrpc":"2.0","id":"n1","method":"SendMessage","params":{"metadata":{"x":NaN},'
     b'"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"t"}]}}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":"n2","method":"SendMessage","params":{"metadata":{"x":-Infinity}}}',
     -32700, None),
    (b'{"jsonrpc":"2.0","id":"n3","method":"SendMessage","params":{"metadata":{"x":1e999}}}',
     -32700, None),
    (b'{"jsonrpc":"2.0","id":"n4","method":"GetTask","params":{"historyLength":'
     b'99999999999999999999999999}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":"d","method":"GetTask","params":' + b"[" * 100_000 + b"]" * 100_000
     + b"}", -32700, None),
])
async def test_unrepresentable_input_gets_an_answer_and_poisons_nothing(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str, payload: bytes, code: int,
        rid: Any) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), max_payload_bytes=500_000), \
            raw_peer(broker.url, unique_id) as peer:
        await peer.send(request_topic(ref), payload, user_properties=V1)
        reply = await peer.reply()
        assert (reply["error"]["code"], reply["id"], reply["_end"]) == (code, rid, "true")
        assert reply["_correlation"] == b"c-1"
        # The store is not poisoned: listing (every caller's) and a new task still work.
        await peer.send(request_topic(ref), rpc("ListTasks", {}), user_properties=V1)
        assert "tasks" in (await peer.reply())["result"]
        await peer.send(request_topic(ref), good_send("after"), user_properties=V1)
        assert (await peer.reply())["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


class Boom(CancellableExecutor):
    """Fails on "boom" (after starting work on the stream); echoes anything else."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.get_user_input() == "boom":
            raise RuntimeError("executor failure for the test")
        await EchoExecutor().execute(context, event_queue)


class EarlyWork(CancellableExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.task_id and context.context_id
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.submit()
        await updater.start_work(updater.new_agent_message([Part(text="working")]))
        raise RuntimeError("fails after the first stream item")


async def test_one_failing_request_spoils_no_concurrent_one_and_leaves_no_turn(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    store = f"sqlite:///{tmp_path}/tasks.db"
    async with raw_peer(broker.url, unique_id) as peer:
        async with serve(broker.url, ref, Boom(), echo_card(), task_store_url=store,
                         session_expiry=60):
            for i in range(20):
                await peer.send(request_topic(ref), good_send("boom" if i % 2 else f"ok{i}"),
                                correlation=f"c{i}".encode(), user_properties=V1)
            replies = [await peer.reply() for _ in range(20)]
        by_corr = {r["_correlation"]: r for r in replies}
        assert len(by_corr) == 20  # exactly one answer each
        for i in range(20):
            reply = by_corr[f"c{i}".encode()]
            if i % 2:
                assert reply["error"]["code"] == -32603 or reply["result"]["task"]["status"][
                    "state"] == "TASK_STATE_FAILED"
            else:
                assert reply["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        # A restart on the same store finds no turn left in flight and answers nobody twice.
        with caplog.at_level(logging.WARNING, logger="a2a_mqtt.server"):
            async with serve(broker.url, ref, Boom(), echo_card(), task_store_url=store,
                             session_expiry=60):
                await peer.send(request_topic(ref), good_send("again"), user_properties=V1)
                await peer.reply()
        assert not any("left unfinished" in r.getMessage() for r in caplog.records)
        assert peer.replies.empty()


async def test_a_stream_has_exactly_one_end_marker_even_when_the_executor_fails(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str) -> None:
    async with serve(broker.url, ref, EarlyWork(), echo_card()), \
            raw_peer(broker.url, unique_id) as peer:
        await peer.send(request_topic(ref), good_send(method="SendStreamingMessage"),
                        user_properties=V1)
        items = [await peer.reply()]
        while items[-1]["_end"] != "true":
            items.append(await peer.reply())
        await peer.send(request_topic(ref), rpc("ListTasks", {}), user_properties=V1)
        after = await peer.reply()
    assert [i["_end"] for i in items].count("true") == 1
    assert "tasks" in after["result"]  # the next reply is the ListTasks answer, nothing else


class Slow(CancellableExecutor):
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        await self.release.wait()
        await EchoExecutor().execute(context, event_queue)


async def test_overload_is_minus_32004_with_retry_after(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str) -> None:
    slow = Slow()
    async with serve(broker.url, ref, slow, echo_card(), max_concurrency=1, max_pending=2,
                     overload_retry_after=3), raw_peer(broker.url, unique_id) as peer:
        for i in range(5):
            await peer.send(request_topic(ref), good_send(), correlation=f"o{i}".encode(),
                            user_properties=V1)
        refusals = [await peer.reply() for _ in range(3)]
        slow.release.set()
        served = [await peer.reply() for _ in range(2)]
    for reply in refusals:
        assert reply["error"]["code"] == -32004
        assert reply["error"]["data"] == {"a2a_error": "responder_unavailable"}
        assert reply["_retry_after"] == "3"
    assert all(r["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED" for r in served)


@pytest.mark.parametrize("topic", ["#", "+", "$SYS/x", "$a2a/v1/discovery/test/unit/victim"])
async def test_a_turn_left_with_a_bad_response_topic_does_not_stop_the_next_start(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str, tmp_path: Path, topic: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A store written before the Response Topic rule (or by anything else): recovery fails
    the abandoned turns, tells the requesters it may, and the agent starts."""
    store = f"sqlite:///{tmp_path}/tasks.db"
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=store):
        pass  # creates the tables
    engine = create_async_engine(store.replace("sqlite://", "sqlite+aiosqlite://", 1))
    try:
        log = DatabaseInflightLog(engine)
        for n, reply_to in enumerate((topic, f"$a2a/v1/reply/test/peers/{unique_id}/r")):
            await log.claim(InflightEntry(
                task_id=str(uuid.uuid4()), message_id=f"m{n}", owner=ref.client_id,
                method="unary", response_topic=reply_to, correlation=f"old{n}".encode(),
                request_id=json.dumps(f"old{n}"), run="an-earlier-run"))
    finally:
        await engine.dispose()
    async with raw_peer(broker.url, unique_id) as peer:
        with caplog.at_level(logging.WARNING, logger="a2a_mqtt.server"):
            async with serve(broker.url, ref, EchoExecutor(), echo_card(),
                             task_store_url=store):
                told = await peer.reply()  # the abandoned turn with a valid topic
                await peer.send(request_topic(ref), good_send("alive"), user_properties=V1)
                alive = await peer.reply()
    assert (told["id"], told["result"]["task"]["status"]["state"]) == ("old1", "TASK_STATE_FAILED")
    assert alive["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert any("requester not told" in r.getMessage() for r in caplog.records)
    assert any("failed 2 task(s)" in r.getMessage() for r in caplog.records)


async def test_malformed_requests_are_all_answered_and_logged_at_a_bounded_rate(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A peer sending malformed requests as fast as it can gets an error for each, and
    the agent's log one line per (requester, error code), not one per request."""
    async with serve(broker.url, ref, EchoExecutor(), echo_card()), \
            raw_peer(broker.url, unique_id) as peer:
        with caplog.at_level(logging.INFO, logger="a2a_mqtt.server"):
            for i in range(30):
                await peer.send(request_topic(ref), b"garbage\nINFO a2a_mqtt.server: forged",
                                user_properties=V1)
                await peer.send(request_topic(ref), rpc("tasks/get", {}, rid=f"m{i}"),
                                user_properties=V1)
            codes = [(await peer.reply())["error"]["code"] for _ in range(60)]
            await peer.send(request_topic(ref), good_send("after"), user_properties=V1)
            after = await peer.reply()
    assert sorted(codes) == [-32700] * 30 + [-32601] * 30
    assert after["result"]["task"]["artifacts"][0]["parts"][0]["text"] == "after"
    logged = [r.getMessage() for r in caplog.records if "bad request on" in r.getMessage()]
    assert len(logged) == 2
