"""The ephemeral worker: ``python -m a2a_mqtt.workflows.worker --ref R --agent module:factory``.

It serves the one agent ``module:factory`` builds as ``--ref`` (an AgentServer with
no persistent session: nothing should be queued for a worker that is gone), waits
for the step's request, and exits once a turn leaves the task finished (completed,
failed, cancelled or rejected). A turn that ends in ``input-required`` keeps it
serving, so the caller's reply reaches the same worker. Exit status: 0 after a
finished task; 2 for a bad agent spec; 3 when no request came within
``--idle-timeout`` (only the first request is timed: a task waiting for the caller's
reply waits as long as the runner lets it). Its Last Will is the agent's offline card
(binding §5.4): when the process dies, the broker tells the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskStore
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import A2AMqttError, ConfigError
from a2a_mqtt.mqtt_types import TLSConfig
from a2a_mqtt.server import AgentConfig, AgentServer
from a2a_mqtt.workflows.ephemeral import PASSWORD_ENV, USERNAME_ENV, load_agent

__all__ = ["main", "serve_one"]

log = logging.getLogger(__name__)

_FINISHED = (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
             TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED)
_SETTLE_STEP = 0.01  # seconds between looks at the server's in-flight count


class _Turns(AgentExecutor):
    """The agent's executor, telling the worker each time a turn has run (task id)."""

    def __init__(self, inner: AgentExecutor) -> None:
        self.inner = inner
        self.turns: asyncio.Queue[str] = asyncio.Queue()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        try:
            await self.inner.execute(context, event_queue)
        finally:
            self.turns.put_nowait(context.task_id or "")

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        try:
            await self.inner.cancel(context, event_queue)
        finally:
            self.turns.put_nowait(context.task_id or "")


async def serve_one(*, broker_url: str, ref: AgentRef, agent: str,
                    idle_timeout: float = 60.0, tls: TLSConfig | None = None) -> int:
    """Serve ``agent`` as ``ref`` until its task is finished; the exit status."""
    built = load_agent(agent)
    turns = _Turns(built.executor)
    connection = ConnectionSettings(url=broker_url, username=os.environ.get(USERNAME_ENV),
                                    password=os.environ.get(PASSWORD_ENV), tls=tls)
    config = AgentConfig(ref=ref, card=built.card, executor=turns, connection=connection,
                         session_expiry=0, watch_broker_drops=False, shutdown_grace=5.0)
    async with AgentServer(config) as server:
        wait: float | None = idle_timeout
        while True:
            try:
                task_id = await asyncio.wait_for(turns.turns.get(), wait)
            except TimeoutError:
                log.warning("worker %s: no request within %.0f s; exiting", ref, idle_timeout)
                return 3
            # The reply is published after execute returns: let the server finish the turn
            # (bounded by the shutdown grace the stop below would give it anyway).
            for _ in range(int(config.shutdown_grace / _SETTLE_STEP)):
                if server.in_flight == 0:
                    break
                await asyncio.sleep(_SETTLE_STEP)
            store = server.task_store
            task = (await store.get(task_id, ServerCallContext())
                    if isinstance(store, TaskStore) and task_id else None)
            if task is None or task.status.state in _FINISHED:
                return 0
            # Waiting for the caller's reply (input-required) takes as long as a human
            # takes; the runner ends the attempt (and this worker) if it gives up.
            wait = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m a2a_mqtt.workflows.worker",
                                     description="Serve one agent for one workflow step.")
    parser.add_argument("--broker", required=True)
    parser.add_argument("--ref", required=True, help="org/unit/agent to serve as")
    parser.add_argument("--agent", required=True, help="module:factory")
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--ca-file")
    parser.add_argument("--cert-file")
    parser.add_argument("--key-file")
    args = parser.parse_args(argv)
    tls = (TLSConfig(ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)
           if args.ca_file or args.cert_file or args.key_file else None)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve_one(broker_url=args.broker, ref=AgentRef.parse(args.ref),
                                     agent=args.agent, idle_timeout=args.idle_timeout,
                                     tls=tls))
    except ConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    except A2AMqttError as exc:
        print(f"worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
