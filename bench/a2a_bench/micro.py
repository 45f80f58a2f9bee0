"""a2a-sdk's DefaultRequestHandler alone, in process: the part of server CPU that is not ours."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any

from a2a_bench.clients import new_send_request
from a2a_bench.scenarios import server_env
from a2a_bench.servers import spans_state
from a2a_bench.settings import (
    OTEL_VAR,
    SCRIPT,
)
from harness.agent import BenchExecutor, bench_card
from harness.stats import median

# -- in-process split of the server's work ---------------------------------------------


async def micro(args: argparse.Namespace) -> dict[str, Any]:
    """CPU per SendMessage of a2a-sdk's DefaultRequestHandler alone (no network, no
    transport), in this process, at 1 and 100 in flight. Every A2A server variant
    except EMQX's runs this per request; the rest of its measured CPU per request is
    its transport, binding and event loop."""
    from a2a.server.context import ServerCallContext
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.tasks import InMemoryTaskStore

    handler = DefaultRequestHandler(
        agent_executor=BenchExecutor(),
        task_store=InMemoryTaskStore(),
        agent_card=bench_card("http://127.0.0.1/"),
    )
    n = args.micro_n
    out: dict[str, Any] = {"n": n, "rounds": 5}
    for inflight in (1, 100):
        rounds: list[float] = []
        for _ in range(5):
            count = itertools.count()

            async def worker(count: Any = count) -> None:
                while next(count) < n:
                    response = await handler.on_message_send(
                        new_send_request(), ServerCallContext()
                    )
                    if not response.artifacts:
                        raise RuntimeError("handler returned no artifact")

            c0 = time.process_time()
            await asyncio.gather(*(worker() for _ in range(inflight)))
            rounds.append((time.process_time() - c0) * 1e6 / n)
        out[f"inflight_{inflight}_us"] = median(rounds)
        out[f"inflight_{inflight}_rounds_us"] = rounds
    return out


async def micro_both(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`micro` in a fresh process with a2a-sdk's spans on, then off."""
    out: dict[str, Any] = {}
    for state, value in (("on", "true"), ("off", "false")):
        env = server_env()
        env[OTEL_VAR] = value
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--micro-child",
            "--micro-n",
            str(args.micro_n),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            stdout, _ = await asyncio.wait_for(proc.communicate(), 300)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        out[f"spans_{state}"] = json.loads(stdout.decode().strip().splitlines()[-1])
    return out


def micro_child(args: argparse.Namespace) -> int:
    result = asyncio.run(micro(args))
    result["spans"] = spans_state()
    print(json.dumps(result))
    return 0
