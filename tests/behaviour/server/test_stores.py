"""Durable task stores: tasks outlive the agent process (SQLite file, PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

import pytest
from a2a.helpers.proto_helpers import new_task_from_user_message
from a2a.server.agent_execution import RequestContext
from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import GetTaskRequest, ListTasksRequest, Part, Task, TaskState
from a2a.utils.errors import InternalError
from sqlalchemy import event

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor, GreeterExecutor, echo_card, greeter_card
from a2a_mqtt.server.groupcommit import GroupCommitStore
from a2a_mqtt.server.stores import KNOWN_ABSENT, KnownAbsentStore, open_task_store
from tests.behaviour.conftest import requester_config, serve, text

pytestmark = pytest.mark.asyncio


async def _survives_restart(url: str, store_url: str, ref: AgentRef,
                            client: A2AMqttClient) -> None:
    t = client.transport_for(ref)
    async with serve(url, ref, GreeterExecutor(), greeter_card(), task_store_url=store_url):
        first = (await t.send_message(text("hello"))).task
        assert first.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    executor = EchoExecutor()
    async with serve(url, ref, GreeterExecutor(), greeter_card(), task_store_url=store_url):
        # A new process (here: a new server and handler) finds the task in the store...
        got = await t.get_task(GetTaskRequest(id=first.id))
        assert got.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        # ...and the conversation continues where it stopped.
        done = (await t.send_message(text("Lin", task_id=first.id,
                                          context_id=first.context_id))).task
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        assert done.artifacts[0].parts[0].text == "Hello, Lin!"
        listed = await t.list_tasks(ListTasksRequest(context_id=first.context_id))
        assert [x.id for x in listed.tasks] == [first.id]
    assert executor.executions == 0


async def test_sqlite_store_survives_agent_restart(broker: MosquittoProcess, ref: AgentRef,
                                                   client: A2AMqttClient, tmp_path: object
                                                   ) -> None:
    await _survives_restart(broker.url, f"sqlite:///{tmp_path}/tasks.db", ref, client)


@pytest.mark.postgres
async def test_postgres_store_survives_agent_restart(broker: MosquittoProcess, ref: AgentRef,
                                                     client: A2AMqttClient,
                                                     postgres_database: str) -> None:
    # A database of its own keeps runs independent and leaves the shared one untouched.
    await _survives_restart(broker.url, postgres_database, ref, client)


async def test_bad_store_url_is_a_clear_config_error(broker: MosquittoProcess,
                                                     ref: AgentRef) -> None:
    with pytest.raises(ConfigError, match="unsupported task store"):
        async with serve(broker.url, ref, EchoExecutor(), echo_card(),
                         task_store_url=f"mongodb://{uuid.uuid4().hex}"):
            pass


async def test_known_absent_reads_skip_the_database_until_the_first_write(
        store_url: str) -> None:
    async with AsyncExitStack() as stack:
        opened = await open_task_store(store_url, stack)
        assert opened.engine is not None
        statements: list[str] = []
        event.listen(opened.engine.sync_engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        store = KnownAbsentStore(opened.store)  # type: ignore[arg-type]
        task_id = str(uuid.uuid4())
        ctx = ServerCallContext(state={KNOWN_ABSENT: task_id})
        assert await store.get(task_id, ctx) is None
        assert statements == []  # answered without the database
        other = ServerCallContext()
        assert await store.get(task_id, other) is None  # another request still reads
        assert statements
        task = Task(id=task_id, context_id="c")
        task.status.state = TaskState.TASK_STATE_SUBMITTED
        await store.save(task, prev_version=TaskVersion.MISSING, context=ctx)
        assert KNOWN_ABSENT not in ctx.state
        stored = await store.get(task_id, ctx)  # exists now: read from the store
        assert stored is not None
        assert stored.task.id == task_id


class _Readings(EchoExecutor):
    """Echoes; asked for "nan", reports a reading that is NaN. A NaN is legal protobuf
    but has no ProtoJSON form, which the database stores write."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.get_user_input() != "nan":
            await super().execute(context, event_queue)
            return
        assert context.message is not None
        task = new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.add_artifact([Part(text="reading")], name="sensor",
                                   metadata={"celsius": float("nan")})
        await updater.complete()


async def test_a_task_the_store_cannot_write_fails_its_request_alone(
        broker: MosquittoProcess, ref: AgentRef, client: A2AMqttClient, store_url: str
) -> None:
    """An executor's task that the database store cannot write fails its own request
    with an internal error, while the requests whose writes share its group commit complete, and
    the agent goes on serving (before: the group commit's writer ended, and every
    request in the batch waited for a reply that never came)."""
    t = client.transport_for(ref)
    # A regression must fail, not hang: the agent's stop would wait for the stuck turns.
    async with asyncio.timeout(90), serve(broker.url, ref, _Readings(), echo_card(),
                                          task_store_url=store_url):
        results = await asyncio.wait_for(asyncio.gather(
            t.send_message(text("nan")), *(t.send_message(text(f"ok {i}")) for i in range(8)),
            return_exceptions=True), timeout=30)
        # The agent's own failure: JSON-RPC's internal error, its details in the log.
        assert isinstance(results[0], InternalError), results[0]
        for i, result in enumerate(results[1:]):
            assert not isinstance(result, BaseException), result
            assert result.task.status.state == TaskState.TASK_STATE_COMPLETED
            assert result.task.artifacts[0].parts[0].text == f"ok {i}"
        after = await asyncio.wait_for(t.send_message(text("still here")), timeout=30)
        assert after.task.status.state == TaskState.TASK_STATE_COMPLETED


async def test_a_durable_json_reply_is_converted_once(broker: MosquittoProcess, ref: AgentRef,
                                                      store_url: str) -> None:
    """A blocking SendMessage on a database store answers with the ProtoJSON its task's
    row was written from (one conversion of the final task, not two), and a reply that
    is not the stored task (history trimmed) is converted on its own."""
    # A JSON-only requester, as EMQX's SDK is (a binary reply converts nothing to JSON).
    async with (A2AMqttClient(requester_config(broker.url, payload_encoding="json"),
                              discover=False) as json_client,
                serve(broker.url, ref, EchoExecutor(), echo_card(),
                      task_store_url=store_url) as server):
        t = json_client.transport_for(ref)
        store = server.task_store
        assert isinstance(store, GroupCommitStore)
        done = (await t.send_message(text("hello"))).task
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        assert done.history and done.artifacts[0].parts[0].text == "hello"
        assert store.shared == 1
        assert await t.get_task(GetTaskRequest(id=done.id)) == done  # what the row holds
        trimmed = text("again")
        trimmed.configuration.history_length = 0
        other = (await t.send_message(trimmed)).task
        assert other.status.state == TaskState.TASK_STATE_COMPLETED
        assert not other.history  # trimmed: not the row's task...
        assert store.shared == 1  # ...so converted on its own
        stored = await t.get_task(GetTaskRequest(id=other.id))
        assert stored.history and stored.artifacts == other.artifacts
