"""The member side (a child process: pool_scaling.py --serve): one agent, counted."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from a2a_mqtt.connection import ConnectionSettings

# ===================================================================================
# Member side (child processes)
# ===================================================================================


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _Counters:
    """What a member did, for the parent: executions, copies, claims."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.executions = 0
        self.requests_direct = 0
        self.pool_copies = 0
        self.claims_attempted = 0
        self.claims_won = 0
        self.claim_seconds = 0.0
        self.copies_lost = 0


COUNTERS = _Counters()


def _instrument() -> None:
    """Count claims and incoming messages by wrapping (not changing) the server's code.

    Pure measurement: each wrapper calls the original and only adds a counter.
    Anything not found (renamed upstream) is simply not counted.
    """
    from a2a_mqtt.server import agent as agent_mod
    from a2a_mqtt.server import claims as claims_mod

    claims_cls = getattr(claims_mod, "RequestClaims", None)
    original_claim = getattr(claims_cls, "claim_first", None)
    if claims_cls is not None and original_claim is not None:

        async def claim_first(self: Any, keys: Any, owner: str, **kw: Any) -> list[int]:
            start = time.perf_counter()
            try:
                won: list[int] = await original_claim(self, keys, owner, **kw)
            finally:
                COUNTERS.claim_seconds += time.perf_counter() - start
                COUNTERS.claims_attempted += 1
            COUNTERS.claims_won += len(won)
            return won

        claims_cls.claim_first = claim_first

    server_cls = agent_mod.AgentServer
    for name, counter in (("_on_request", "requests_direct"), ("_on_pool_copy", "pool_copies")):
        original = getattr(server_cls, name, None)
        if original is None:
            continue

        def wrapped(self: Any, msg: Any, _orig: Any = original, _c: str = counter) -> Any:
            setattr(COUNTERS, _c, getattr(COUNTERS, _c) + 1)
            return _orig(self, msg)

        setattr(server_cls, name, wrapped)


def _card() -> Any:
    from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill

    return AgentCard(
        name="Pool bench",
        description="Sleeps 50 ms, then echoes the input as one artifact.",
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(id="echo", name="Echo", description="Echo after a delay.", tags=["bench"])
        ],
    )


async def serve(args: argparse.Namespace) -> None:
    """One agent (pool member or not) until stdin closes; ``stats``/``reset`` on stdin."""
    from _common import BenchExecutor  # after a2a_mqtt: its defaults apply to a2a-sdk
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.server import AgentConfig, AgentServer

    _instrument()
    executor = BenchExecutor(delay=args.delay)
    config = AgentConfig(
        ref=AgentRef.parse(args.agent),
        card=_card(),
        executor=executor,
        connection=ConnectionSettings(url=args.broker),
        pool=args.pool or None,
        task_store_url=args.store,
        max_concurrency=args.concurrency,
        session_expiry=300,
        shutdown_grace=10,
        pool_dispatch=args.pool_dispatch,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AgentServer(config) as server:
        _say(f"READY {server.pool_dispatch or 'direct'}")
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        stopping = asyncio.create_task(stop.wait())
        try:
            async with asyncio.timeout(args.deadline):
                while not stop.is_set():
                    reading = asyncio.create_task(reader.readline())
                    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not reading.done():
                        reading.cancel()
                        break
                    line = reading.result().decode().strip()
                    if not line:
                        break  # EOF: the parent is done (or gone)
                    if line == "reset":
                        COUNTERS.reset()
                        executor.executions = 0
                        queue = getattr(server, "_copies", None)
                        if queue is not None:
                            queue.lost = 0
                        _say("RESET")
                    elif line == "stats":
                        queue = getattr(server, "_copies", None)
                        COUNTERS.copies_lost = queue.lost if queue is not None else 0
                        COUNTERS.executions = executor.executions
                        _say("STATS " + json.dumps(vars(COUNTERS)))
        except TimeoutError:
            pass
        finally:
            stopping.cancel()


# ===================================================================================
# Parent side: processes, stores, CPU
