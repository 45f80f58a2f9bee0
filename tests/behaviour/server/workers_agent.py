"""An agent served by worker processes, for the worker tests.

Run as ``python -m tests.behaviour.server.workers_agent BROKER_URL AGENT_REF STORE_URL LOG
WORKERS [DISPATCH [METRICS_PORT]]``. The executor (tests/behaviour/pool/member.py) logs
``start``/``done`` lines with the worker's pid (and ``ready`` once all workers serve), so
a test counts executions per worker and proves nothing was lost.
"""

from __future__ import annotations

import asyncio
import os
import sys

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings, TLSConfig
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.workers import WorkerSupervisor
from tests.behaviour.pool.member import CountingExecutor


def main() -> None:
    url, ref, store, log_path, workers = sys.argv[1:6]
    dispatch = sys.argv[6] if len(sys.argv) > 6 else "auto"
    port = int(sys.argv[7]) if len(sys.argv) > 7 else None
    config = AgentConfig(ref=AgentRef.parse(ref), card=echo_card(),
                         executor=CountingExecutor(log_path),
                         connection=ConnectionSettings(
                             url=url, keepalive=5,
                             # A secure broker's login (tests/behaviour/access).
                             username=os.environ.get("TEST_AGENT_USERNAME"),
                             password=os.environ.get("TEST_AGENT_PASSWORD"),
                             tls=TLSConfig(ca_file=os.environ["TEST_AGENT_CA_FILE"])
                             if "TEST_AGENT_CA_FILE" in os.environ else None),
                         task_store_url=store, session_expiry=300, shutdown_grace=10,
                         max_concurrency=4)
    supervisor = WorkerSupervisor([config], workers=int(workers), dispatch=dispatch,
                                  observability=ObservabilityConfig(http_port=port),
                                  backoff=0.2)
    # Every worker is connected and subscribed once this line is in the log.
    def ready() -> None:
        if supervisor.metrics_url:
            CountingExecutor(log_path)._write(f"metrics {supervisor.metrics_url}")
        CountingExecutor(log_path)._write("ready")

    asyncio.run(supervisor.serve(on_ready=ready))


if __name__ == "__main__":
    main()
