"""One agent process, no pool, on a database store (write-behind on): for kill -9 tests.

Run as ``python -m tests.behaviour.server.solo_agent BROKER_URL AGENT_REF STORE_URL LOG
[fast]`` (``fast``: ``AgentConfig.fast_path``).
"""

from __future__ import annotations

import asyncio
import sys

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.server import AgentConfig, serve_agents
from tests.behaviour.pool.member import CountingExecutor


def main() -> None:
    url, ref, store, log_path = sys.argv[1:5]
    fast = sys.argv[5:6] == ["fast"]
    config = AgentConfig(ref=AgentRef.parse(ref), card=echo_card(),
                         executor=CountingExecutor(log_path),
                         connection=ConnectionSettings(url=url, keepalive=5),
                         task_store_url=store, session_expiry=300, max_concurrency=64,
                         fast_path=fast)
    asyncio.run(serve_agents([config]))


if __name__ == "__main__":
    main()
