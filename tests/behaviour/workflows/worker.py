"""A step agent for the supervisor tests, with an execution log of each step's effect.

Run as ``python -m tests.behaviour.workflows.worker BROKER_URL AGENT_REF STORE_URL LOG``
(or use :class:`EffectExecutor` in-process). The first data part of a request says
what to do: ``{"step": NAME, "sleep": SECONDS, "mode": MODE, "value": ANY}``.

- ``ok`` (default): works ``sleep`` seconds, then writes ``effect <step> <task>``
  to the log (one write, so lines never interleave across processes) and
  completes with the data ``{"step", "value", "by"}``;
- ``fail``: fails the task; ``never``: never answers;
- ``ask``: asks for input, then completes with the caller's reply as ``value``
  (the effect is written on the second turn);
- ``flaky``: fails on the first execution of a step, succeeds after.

``start <step> <task>`` is written when an execution begins, so a test can see
work that a ``kill -9`` cut short.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill, Part
from google.protobuf.json_format import MessageToDict, ParseDict

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import CancellableExecutor, _updater
from a2a_mqtt.server import AgentConfig, serve_agents


def worker_card(name: str = "worker") -> AgentCard:
    return AgentCard(name=name, description="test step agent with an execution log",
                     version="1.0.0", capabilities=AgentCapabilities(streaming=True),
                     skills=[AgentSkill(id="work", name="work", description="does a step",
                                        tags=["worker"])])


def _request(context: RequestContext) -> dict[str, Any]:
    assert context.message is not None
    for part in context.message.parts:
        if part.HasField("data"):
            value = MessageToDict(part.data)
            if isinstance(value, dict):
                return value
    return {}


class EffectExecutor(CancellableExecutor):
    def __init__(self, log_path: str, name: str = "worker") -> None:
        self._log = log_path
        self._name = name
        self._requests: dict[str, dict[str, Any]] = {}

    def write(self, line: str) -> None:
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line}\n".encode())
        finally:
            os.close(fd)

    def _seen(self, step: str) -> int:
        try:
            with open(self._log, encoding="utf-8") as f:
                return sum(1 for line in f if line.split()[:2] == ["start", step])
        except FileNotFoundError:
            return 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        first_turn = context.current_task is None
        updater = await _updater(context, event_queue)
        task_id = context.task_id or ""
        if first_turn:
            self._requests[task_id] = _request(context)
        request = self._requests.get(task_id, {})
        step = str(request.get("step", "?"))
        mode = request.get("mode", "ok")
        value: Any = request.get("value")
        if first_turn:
            earlier = self._seen(step)
            self.write(f"start {step} {task_id}")
            if mode == "flaky" and earlier == 0:
                await updater.failed(updater.new_agent_message([Part(text="flaky: first try")]))
                return
        await updater.start_work()
        if mode == "never":
            await asyncio.sleep(3600)
        await asyncio.sleep(float(request.get("sleep", 0)))
        if mode == "fail":
            await updater.failed(updater.new_agent_message([Part(text=f"{step} failed")]))
            return
        if mode == "ask":
            if first_turn:
                await updater.requires_input(updater.new_agent_message(
                    [Part(text=f"{step}: approve?")]))
                return
            value = context.get_user_input()
        self.write(f"effect {step} {task_id}")
        data = Part(media_type="application/json")
        ParseDict({"step": step, "value": value, "by": self._name}, data.data)
        await updater.add_artifact([data], name="result", last_chunk=True)
        await updater.complete()


def main() -> None:
    url, ref, store, log_path = sys.argv[1:5]
    agent = AgentRef.parse(ref)
    config = AgentConfig(ref=agent, card=worker_card(agent.name),
                         executor=EffectExecutor(log_path, agent.name),
                         connection=ConnectionSettings(url=url, keepalive=5),
                         task_store_url=store, session_expiry=300,
                         shutdown_grace=5)
    asyncio.run(serve_agents([config]))


if __name__ == "__main__":
    main()
