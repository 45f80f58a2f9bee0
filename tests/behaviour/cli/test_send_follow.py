"""``send`` and ``tasks subscribe`` as a user meets them (issue 11): offline agents fail
fast, silent streams live as long as their task, cancel and continuations from the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part
from click.testing import CliRunner

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.cli.main import main
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import (
    CancellableExecutor,
    EchoExecutor,
    GreeterExecutor,
    echo_card,
    greeter_card,
)
from tests.behaviour.cli.test_cli import as_json, cli
from tests.behaviour.conftest import serve

pytestmark = pytest.mark.asyncio


async def in_process(*args: str) -> tuple[int, str, float]:
    """Run the CLI in this process (no interpreter start-up in the figure): exit code,
    stderr+stdout, and the seconds it took."""
    def run() -> tuple[int, str, float]:
        start = time.perf_counter()
        result = CliRunner().invoke(main, list(args))
        return result.exit_code, result.output, time.perf_counter() - start
    return await asyncio.to_thread(run)


async def wait_offline(client: A2AMqttClient, ref: AgentRef) -> None:
    async with client.discovery.watch() as watch:
        async for event in watch:
            if event.entry.ref == ref and not event.entry.online:
                return


@asynccontextmanager
async def background(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)


async def line(stream: asyncio.StreamReader | None) -> str:
    assert stream is not None
    return (await asyncio.wait_for(stream.readline(), 30)).decode().strip()


async def test_send_to_an_offline_card_fails_fast(broker: MosquittoProcess, ref: AgentRef,
                                                  client: A2AMqttClient) -> None:
    # A persistent session: the broker would queue the request, so only the card tells.
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=600):
        pass
    await wait_offline(client, ref)
    code, out, took = await in_process("send", str(ref), "hi", "--broker", broker.url)
    assert code == 1 and took < 1.0, (took, out)
    assert f"{ref} is offline" in out and "--wait-online" in out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out


async def test_unknown_agents_answer_quickly(broker: MosquittoProcess) -> None:
    code, out, took = await in_process("agents", "show", "a/b/nobody", "--broker", broker.url)
    assert code == 1 and "unknown agent a/b/nobody" in out and took < 1.0, (took, out)
    # No card and nobody subscribed: the publish is refused, no reply timeout is waited.
    code, out, took = await in_process("send", "a/b/nobody", "x", "--broker", broker.url)
    assert code == 1 and "nobody" in out and took < 3.0, (took, out)


async def test_wait_online_waits_for_the_agent(broker: MosquittoProcess, ref: AgentRef,
                                               client: A2AMqttClient) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=600):
        pass
    await wait_offline(client, ref)
    async with background("send", str(ref), "later", "--broker", broker.url,
                          "--wait-online") as proc:
        assert (await line(proc.stderr)).startswith(f"waiting for {ref}")
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=600):
            out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert "COMPLETED" in out.decode() and "later" in out.decode()


async def test_a_20s_silent_task_streams_to_completion(broker: MosquittoProcess,
                                                       ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        # --timeout bounds the first reply only; the 20 s of silence pass two GetTask probes.
        code, out, err = await cli("send", str(ref), "patience", "--broker", broker.url,
                                   "--stream", "--timeout", "5", "--probe-interval", "8",
                                   "--metadata", '{"delay": 20}')
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "[artifact echo] patience" in lines and lines[-1] == "[status] COMPLETED"


async def test_idle_timeout_is_opt_in(broker: MosquittoProcess, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        code, out, err = await cli("send", str(ref), "x", "--broker", broker.url, "--stream",
                                   "--idle-timeout", "1", "--metadata", '{"delay": 30}')
    assert code == 1 and out.startswith("[task ")
    assert "no event from" in err and "(--idle-timeout)" in err


async def test_a_stream_ends_when_the_agent_goes_offline(broker: MosquittoProcess,
                                                         ref: AgentRef) -> None:
    async with AsyncExitStack() as agent:
        await agent.enter_async_context(serve(broker.url, ref, EchoExecutor(), echo_card()))
        async with background("send", str(ref), "x", "--broker", broker.url, "--stream",
                              "--probe-interval", "0", "--metadata", '{"delay": 60}') as proc:
            assert (await line(proc.stdout)).startswith("[task ")
            await agent.aclose()  # a graceful stop: the card says offline
            _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert f"{ref} is offline (its card says so)" in err.decode()
    assert "Traceback" not in err.decode()


async def test_subscribe_to_an_offline_agent_fails_fast(broker: MosquittoProcess,
                                                        ref: AgentRef,
                                                        client: A2AMqttClient) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=600):
        pass
    await wait_offline(client, ref)
    code, out, took = await in_process("tasks", "subscribe", str(ref), "some-task",
                                       "--broker", broker.url)
    assert code == 1 and f"{ref} is offline" in out and took < 1.0, (took, out)


async def test_cancel_through_metadata_and_subscribe(broker: MosquittoProcess,
                                                     ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        async with background("send", str(ref), "slow", "--broker", broker.url, "--stream",
                              "--metadata", '{"delay": 30}') as sender:
            first = await line(sender.stdout)
            assert first.startswith("[task ")
            task_id = first.removeprefix("[task ").split("]")[0]
            async with background("tasks", "subscribe", str(ref), task_id, "--broker",
                                  broker.url, "--json") as sub:
                # The subscription's first event is the task as it stands: it is open.
                assert json.loads(await line(sub.stdout))["task"]["id"] == task_id
                code, out, err = await cli("tasks", "cancel", str(ref), task_id,
                                           "--broker", broker.url)
                assert code == 0 and "CANCELED" in out, err
                sub_out, sub_err = await asyncio.wait_for(sub.communicate(), 30)
            out_b, err_b = await asyncio.wait_for(sender.communicate(), 30)
    # Both followers print the end, then exit non-zero naming it: the task did not finish.
    last = json.loads(sub_out.decode().strip().splitlines()[-1])
    assert last["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"
    assert sub.returncode == 1 and f"task {task_id} ended CANCELED" in sub_err.decode()
    assert out_b.decode().strip().splitlines()[-1] == "[status] CANCELED"
    assert sender.returncode == 1 and f"task {task_id} ended CANCELED" in err_b.decode()
    assert len(err_b.decode().strip().splitlines()) == 1


class FailingExecutor(CancellableExecutor):
    """Starts work, then fails with a reason."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.task_id and context.context_id
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        await updater.failed(updater.new_agent_message([Part(text="disk full")]))


@pytest.mark.parametrize("mode", [["--stream"], [], ["--json"]])
async def test_a_failed_task_exits_non_zero_with_its_state(broker: MosquittoProcess,
                                                           ref: AgentRef,
                                                           mode: list[str]) -> None:
    async with serve(broker.url, ref, FailingExecutor(), echo_card()):
        code, out, err = await cli("send", str(ref), "x", "--broker", broker.url, *mode)
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and " ended FAILED" in err, err
    if mode == ["--stream"]:
        assert out.strip().splitlines()[-1] == "[status] FAILED disk full"
    elif mode == ["--json"]:
        assert as_json(out)["task"]["status"]["state"] == "TASK_STATE_FAILED"
    else:
        assert "FAILED" in out and "disk full" in out


async def test_continuation_keeps_its_context_and_terminal_tasks_refuse(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    async with serve(broker.url, ref, GreeterExecutor(), greeter_card()):
        code, out, err = await cli("send", str(ref), "hi", "--broker", broker.url, "--json")
        assert code == 0, err
        first = as_json(out)["task"]
        code, out, err = await cli("send", str(ref), "Ada", "--task-id", first["id"],
                                   "--broker", broker.url, "--json")
        assert code == 0, err
        second = as_json(out)["task"]
        assert second["id"] == first["id"] and second["contextId"] == first["contextId"]
        assert second["status"]["state"] == "TASK_STATE_COMPLETED"
        code, out, err = await cli("send", str(ref), "again", "--task-id", first["id"],
                                   "--broker", broker.url)
        assert code == 1 and "COMPLETED, a terminal state" in err and out == ""
        assert len(err.strip().splitlines()) == 1


async def test_data_and_file_parts(broker: MosquittoProcess, ref: AgentRef,
                                   tmp_path: Path) -> None:
    attachment = tmp_path / "note.txt"
    attachment.write_bytes(b"file body")
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        code, out, err = await cli("send", str(ref), "with parts", "--broker", broker.url,
                                   "--data", '{"k": [1, 2]}', "--file", str(attachment),
                                   "--json")
        assert code == 0, err
        task_id = as_json(out)["task"]["id"]
        code, out, err = await cli("tasks", "get", str(ref), task_id, "--history", "5",
                                   "--broker", broker.url, "--json")
    assert code == 0, err
    parts = as_json(out)["history"][0]["parts"]
    assert parts[0] == {"text": "with parts"}
    assert parts[1]["data"] == {"k": [1, 2]}
    assert parts[2]["filename"] == "note.txt" and parts[2]["mediaType"] == "text/plain"
    assert parts[2]["raw"] == "ZmlsZSBib2R5"  # base64 of b"file body"
