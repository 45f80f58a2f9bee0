"""A pool member process for the pool tests: counts executions in a shared log file.

Run as ``python -m tests.behaviour.pool.member BROKER_URL AGENT_REF POOL STORE_URL LOG
[MAX_CONCURRENCY]`` (default 4: small enough that load has to spread).
Each execution appends ``start <task>`` and, when it finishes, ``done <task>`` lines, so a
test can prove no task was lost and none completed twice, even across ``kill -9``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import Part

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import CancellableExecutor, _updater, echo_card
from a2a_mqtt.server import AgentConfig, serve_agents


class CountingExecutor(CancellableExecutor):
    """Waits ``delay`` seconds (request metadata, default 0.05), then echoes; a stopped
    execution (CancelTask) logs ``stopped <task> <pid>``."""

    def __init__(self, log_path: str) -> None:
        self._log = log_path

    def _write(self, line: str) -> None:
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line}\n".encode())  # one write: lines never interleave
        finally:
            os.close(fd)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        self._write(f"start {context.task_id} {os.getpid()}")
        await updater.start_work()
        delay = context.metadata.get("delay", 0.05)
        try:
            await asyncio.sleep(float(delay))
        except asyncio.CancelledError:
            self._write(f"stopped {context.task_id} {os.getpid()}")
            raise
        await updater.add_artifact([Part(text=context.get_user_input())], name="echo")
        await updater.complete()
        self._write(f"done {context.task_id} {os.getpid()}")


def main() -> None:
    url, ref, pool, store, log_path = sys.argv[1:6]
    concurrency = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    config = AgentConfig(ref=AgentRef.parse(ref), card=echo_card(),
                         executor=CountingExecutor(log_path),
                         connection=ConnectionSettings(url=url, keepalive=5), pool=pool,
                         task_store_url=store, session_expiry=300, shutdown_grace=10,
                         max_concurrency=concurrency)
    asyncio.run(serve_agents([config]))


if __name__ == "__main__":
    main()
