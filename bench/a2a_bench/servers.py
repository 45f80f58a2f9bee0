"""The server side of every variant (a child process: a2a_compare.py --serve NAME)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from a2a_bench.settings import (
    ORG,
    READY_TIMEOUT,
    STOP_TIMEOUT,
    UNIT,
)
from a2a_mqtt.connection import ConnectionSettings
from harness.agent import BenchExecutor, bench_card

# ===================================================================================
# Server side (child processes)
# ===================================================================================


class _Control:
    """Line commands on stdin: ``profile-start``, ``profile-stop PATH``; EOF = stop."""

    def __init__(self) -> None:
        self._profiler: cProfile.Profile | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                return  # EOF: the parent is done (or gone)
            cmd, _, arg = line.partition(" ")
            if cmd == "profile-start":
                self._profiler = cProfile.Profile()
                self._profiler.enable()
                _say("PROFILING")
            elif cmd == "profile-stop" and self._profiler is not None:
                self._profiler.disable()
                self._profiler.dump_stats(arg)
                self._profiler = None
                _say("PROFILED")


def spans_state() -> str:
    """Whether a2a-sdk's per-method OpenTelemetry spans are on in this process."""
    telemetry = sys.modules.get("a2a.utils.telemetry")
    if telemetry is None:
        return "n/a"
    on = getattr(telemetry, "otel_installed", False) and getattr(telemetry, "otel_enabled", False)
    return "on" if on else "off"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve_until_eof(deadline: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    control = asyncio.create_task(_Control().run())
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({control, waiter}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
    for task in (control, waiter):
        task.cancel()
    await asyncio.gather(control, waiter, return_exceptions=True)


async def serve_ours(args: argparse.Namespace, *, fast_path: bool = True) -> None:
    from a2a_mqtt._loop import tune_gc
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.server import AgentServer
    from a2a_mqtt.server.config import AgentConfig

    # The collector as `a2a-mqtt serve` leaves it (a2a_mqtt._loop.run tunes it; this
    # child runs on the bench's asyncio.run). A2A_MQTT_GC=default measures without.
    tune_gc()

    config = AgentConfig(
        ref=AgentRef(ORG, UNIT, args.agent),
        card=bench_card(),
        executor=BenchExecutor(),
        connection=ConnectionSettings(url=args.broker),
        fast_path=fast_path,
    )
    async with AgentServer(config):
        _say(f"READY spans={spans_state()}")
        await _serve_until_eof(args.deadline)


async def serve_ours_sdk(args: argparse.Namespace) -> None:
    """``ours`` with ``AgentConfig(fast_path=False)``: a2a-sdk's own request handler
    instead of the lean one (server/fastpath.py), the "before" of issue #16."""
    await serve_ours(args, fast_path=False)


async def serve_http(args: argparse.Namespace) -> None:
    import uvicorn
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore
    from starlette.applications import Starlette

    url = f"http://127.0.0.1:{args.port}/"
    card = bench_card(url)
    handler = DefaultRequestHandler(
        agent_executor=BenchExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[*create_jsonrpc_routes(handler, rpc_url="/"), *create_agent_card_routes(card)]
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=60,
        )
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(int(READY_TIMEOUT / 0.02)):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    _say(f"READY spans={spans_state()}")
    await _serve_until_eof(args.deadline)
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(serving, STOP_TIMEOUT)
    with contextlib.suppress(Exception):
        await handler.aclose()


async def serve_emqx(args: argparse.Namespace) -> None:
    from a2a_over_mqtt import MqttConfig, Responder, TopicSpace, build_card

    from a2a_mqtt.transport import BrokerURL

    class EchoResponder(Responder):  # type: ignore[misc]  # the EMQX SDK ships no types
        async def on_request(self, request: Any, stream: Any) -> str | None:
            return str(request.text)

    # aiomqtt warns "There are N pending publish calls." for every publish beyond 10 in
    # flight; thousands of log writes would cost its Responder CPU. Not an error: silenced.
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    url = BrokerURL.parse(args.broker)
    topics = TopicSpace(org=ORG, unit=UNIT)
    kwargs: dict[str, Any] = {}
    if args.max_concurrent:
        kwargs["max_concurrent"] = args.max_concurrent
    responder = EchoResponder(
        agent_id=args.agent,
        mqtt=MqttConfig(host=url.host, port=url.port),
        topics=topics,
        card=build_card(name="Bench echo", description="echo", url=args.broker),
        **kwargs,
    )
    running = asyncio.create_task(responder.run())
    # It has no readiness hook: its retained card appears once it has subscribed.
    await _wait_retained(args.broker, topics.discovery(args.agent))
    _say(f"READY spans={spans_state()}")
    await _serve_until_eof(args.deadline)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def _wait_retained(broker: str, topic: str) -> None:
    from a2a_mqtt.transport import BrokerURL, ConnectOptions, Subscription, create_transport

    seen = asyncio.Event()
    probe = create_transport(
        ConnectOptions(url=BrokerURL.parse(broker), client_id=f"bench-probe-{uuid.uuid4().hex[:8]}")
    )
    await probe.subscribe(Subscription(topic, qos=1), lambda _msg: seen.set())
    await probe.connect()
    try:
        for _ in range(int(READY_TIMEOUT / 0.1)):  # re-subscribe: retained is sent on SUBSCRIBE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.wait(), 0.1)
                return
            await probe.unsubscribe(topic)
            await probe.subscribe(Subscription(topic, qos=1), lambda _msg: seen.set())
        raise RuntimeError(f"no retained card on {topic}")
    finally:
        await probe.disconnect()


async def serve_floor(args: argparse.Namespace) -> None:
    from a2a_mqtt.transport import (
        BrokerURL,
        ConnectOptions,
        IncomingMessage,
        PublishProperties,
        Subscription,
        create_transport,
    )

    transport = create_transport(
        ConnectOptions(url=BrokerURL.parse(args.broker), client_id=f"bench-floor-{args.agent}")
    )
    tasks: set[asyncio.Task[Any]] = set()

    def on_request(msg: IncomingMessage) -> None:
        if not msg.properties.response_topic:
            return
        props = PublishProperties(correlation_data=msg.properties.correlation_data)
        task = asyncio.create_task(
            transport.publish(msg.properties.response_topic, msg.payload, qos=1, properties=props)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await transport.connect()
    await transport.subscribe(Subscription(f"bench/floor/{args.agent}/req", qos=1), on_request)
    _say(f"READY spans={spans_state()}")
    try:
        await _serve_until_eof(args.deadline)
    finally:
        await transport.disconnect()


SERVERS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "ours": serve_ours,
    "ours-sdk": serve_ours_sdk,
    "http": serve_http,
    "emqx": serve_emqx,
    "floor": serve_floor,
}
