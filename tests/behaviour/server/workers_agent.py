"""An agent served by worker processes, for the worker tests.

Run as ``python -m tests.behaviour.server.workers_agent BROKER_URL AGENT_REF STORE_URL LOG
WORKERS``. The executor (tests/behaviour/pool/member.py) logs ``start``/``done`` lines with
the worker's pid (and ``ready`` once all workers serve), so a test counts executions per
worker and proves nothing was lost.
"""

from __future__ import annotations

import asyncio
import sys

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.workers import WorkerSupervisor
from tests.behaviour.pool.member import CountingExecutor


def main() -> None:
    url, ref, store, log_path, workers = sys.argv[1:6]
    config = AgentConfig(ref=AgentRef.parse(ref), card=echo_card(),
                         executor=CountingExecutor(log_path),
                         connection=ConnectionSettings(url=url, keepalive=5),
                         task_store_url=store, session_expiry=300, shutdown_grace=10,
                         max_concurrency=4)
    supervisor = WorkerSupervisor([config], workers=int(workers))
    # Every worker is connected and subscribed once this line is in the log.
    asyncio.run(supervisor.serve(on_ready=lambda: CountingExecutor(log_path)._write("ready")))


if __name__ == "__main__":
    main()
