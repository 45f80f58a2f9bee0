"""A2A SendMessage, side by side: a2a-mqtt vs a2a-sdk over HTTP vs the EMQX SDK vs raw MQTT.

Usage::

    python bench/a2a_compare.py                 # 3 runs + profile, 10-15 min; table + JSON
    python bench/a2a_compare.py --quick         # 1 small run, ~1 min (smoke test)
    python bench/a2a_compare.py --runs 5        # more runs when the machine is noisy
    python bench/a2a_compare.py --profile-only  # only the CPU breakdown of our path
    python bench/a2a_compare.py --report FILE   # re-print the tables of a results file

See docs/performance.md for the latest figures and how to read them.

One Mosquitto (``EmbeddedBroker`` with the default generated config) serves
every MQTT variant. Each variant's server runs in its own process (this script
re-invoked with ``--serve VARIANT``); the client runs in this process, so client
and server never share an event loop or a GIL. A fresh server process is
started for every (run, variant). All use the default asyncio loop.

Variants (the same trivial work: ``bench/_common.py:BenchExecutor`` enqueues the
Task, one artifact with the input text, COMPLETED):

* ``ours``: ``A2AMqttClient(...).transport_for(ref).send_message`` (unary
  SendMessage, QoS 1) -> ``AgentServer`` (a2a-sdk ``DefaultRequestHandler`` +
  ``InMemoryTaskStore``), both with their defaults;
* ``http``: a2a-sdk's ``JsonRpcTransport`` on an ``httpx.AsyncClient`` ->
  a2a-sdk ``create_jsonrpc_routes`` + ``create_agent_card_routes`` in a
  Starlette app under uvicorn, ``DefaultRequestHandler`` + ``InMemoryTaskStore``;
* ``http-aiohttp`` (informational): the same server, the same JSON-RPC request
  sent with aiohttp instead of httpx, to separate server cost from httpx's;
* ``emqx``: the EMQX ``a2a-over-mqtt`` SDK as shipped: ``Requester.stream``
  (a new MQTT connection per call) -> ``Responder`` (``max_concurrent=4``)
  whose ``on_request`` returns the input text (it then publishes submitted,
  artifact, completed: its own equivalent of the executor);
* ``emqx-mc100``: the same with ``max_concurrent=100`` (for fairness);
* ``floor``: raw request/reply on our MQTT seam (``create_transport``), no A2A:
  the responder echoes the payload to the Response Topic with the Correlation
  Data (QoS 1 both ways).

a2a-sdk's OpenTelemetry spans (``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED``, read
once when a2a-sdk is imported) are left at each product's default: the ``ours``
server imports ``a2a_mqtt`` first, as an application does (a2a_mqtt turns them
off unless set), the a2a-sdk HTTP server gets the user's environment (on unless
set). Each server reports its state; ``--server-env KEY=VALUE`` overrides it
for every server.

Scenarios: sequential (1 in flight), 10 and 100 in flight; each after a
warm-up. Every metric is the median over ``--runs`` runs. CPU per request is
read from /proc for the server and broker processes and from getrusage for
the client (10 ms tick resolution, over thousands of requests).

The profile phase runs ``--profile-n`` sequential ``ours`` requests while
profiling both the agent-server process and the client process: with py-spy
(sampling; ``pip install py-spy``) when it is installed, else
with cProfile (``--profiler`` chooses). It aggregates time by package: own
(the leaf Python frame, including C code it calls; for cProfile a C builtin's
time is charged to the package that called it) and, for py-spy, inclusive
(the package anywhere on the stack). Waiting in epoll is reported apart.
Finally, a2a-sdk's ``DefaultRequestHandler`` is timed alone, in-process and
without any transport (spans on, then off), so the server CPU beyond it can be
told apart.

Every wait is bounded; the whole run is bounded by ``--deadline`` seconds.
Results: a table on stdout and ``bench/results/a2a_compare-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import math
import os
import platform
import pstats
import resource
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from a2a_mqtt.connection import ConnectionSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: a2a-sdk wraps its handler methods in OpenTelemetry spans unless this is "false",
#: read once when a2a-sdk is first imported. An a2a-mqtt process sets it to "false"
#: (setdefault, a2a_mqtt/telemetry.py) at start-up; the user's own value is kept here.
OTEL_VAR = "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"
USER_OTEL = os.environ.get(OTEL_VAR)
if sys.argv[1:3] == ["--serve", "ours"]:
    # Our agent server makes a2a-mqtt's start-up decision before a2a-sdk is imported,
    # as an a2a-mqtt process does, so its defaults apply to it (and only to it).
    from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

    prefer_a2a_sdk_spans_off()

from _common import (  # noqa: E402
    BENCH_TEXT,
    BenchExecutor,
    bench_card,
    median,
    proc_cpu_seconds,
    summarize,
)
from _spy import have_py_spy, start_py_spy, stop_py_spy  # noqa: E402

SCRIPT = Path(__file__).resolve()
HERE = SCRIPT.parent
RESULTS_DIR = HERE / "results"
ORG, UNIT = "bench", "a2a"
VARIANTS = ("ours", "http", "http-aiohttp", "emqx", "emqx-mc100", "floor")
SCENARIOS = (("sequential", 1), ("10 in flight", 10), ("100 in flight", 100))
REQUEST_TIMEOUT = 30.0
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

log = logging.getLogger("bench.a2a_compare")

#: Extra environment for the server processes (``--server-env KEY=VALUE``).
SERVER_ENV: dict[str, str] = {}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _http_impl() -> tuple[str, str]:
    """What uvicorn's ``auto`` picks here: (loop, http)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def _floor_payload() -> bytes:
    """A SendMessage JSON-RPC request the size of ours, for the raw MQTT floor."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": uuid.uuid4().hex,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": uuid.uuid4().hex,
                    "role": "ROLE_USER",
                    "parts": [{"text": BENCH_TEXT}],
                    "taskId": str(uuid.uuid4()),
                    "contextId": str(uuid.uuid4()),
                }
            },
        }
    ).encode()


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


def _spans_state() -> str:
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


async def serve_ours(args: argparse.Namespace) -> None:
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.server import AgentServer
    from a2a_mqtt.server.config import AgentConfig

    config = AgentConfig(
        ref=AgentRef(ORG, UNIT, args.agent),
        card=bench_card(),
        executor=BenchExecutor(),
        connection=ConnectionSettings(url=args.broker),
    )
    async with AgentServer(config):
        _say(f"READY spans={_spans_state()}")
        await _serve_until_eof(args.deadline)


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
    _say(f"READY spans={_spans_state()}")
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
    _say(f"READY spans={_spans_state()}")
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
    _say(f"READY spans={_spans_state()}")
    try:
        await _serve_until_eof(args.deadline)
    finally:
        await transport.disconnect()


SERVERS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "ours": serve_ours,
    "http": serve_http,
    "emqx": serve_emqx,
    "floor": serve_floor,
}


# ===================================================================================
# Client side (this process)
# ===================================================================================


class Client:
    """One variant's client: ``request()`` does one SendMessage and checks the answer."""

    async def start(self) -> None: ...

    async def request(self) -> None: ...

    async def stop(self) -> None: ...


def _new_send_request() -> Any:
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

    return SendMessageRequest(
        message=Message(
            message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=BENCH_TEXT)]
        )
    )


def _check_task(response: Any) -> None:
    from a2a.types.a2a_pb2 import TaskState

    task = response.task
    if task.status.state != TaskState.TASK_STATE_COMPLETED:
        raise RuntimeError(f"task not completed: {task.status.state}")
    if not task.artifacts or task.artifacts[0].parts[0].text != BENCH_TEXT:
        raise RuntimeError("artifact missing or wrong")


class OursClient(Client):
    def __init__(self, broker: str, agent: str) -> None:
        self.broker, self.agent = broker, agent

    async def start(self) -> None:
        from a2a_mqtt.client import A2AMqttClient, RequesterConfig

        self._client = A2AMqttClient(
            RequesterConfig(connection=ConnectionSettings(url=self.broker)), discover=False)
        await self._client.__aenter__()
        self._transport = self._client.transport_for(f"{ORG}/{UNIT}/{self.agent}")

    async def request(self) -> None:
        _check_task(await self._transport.send_message(_new_send_request()))

    async def stop(self) -> None:
        await self._client.__aexit__(None, None, None)


class HttpClient(Client):
    """a2a-sdk's own JSON-RPC ClientTransport over httpx."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"

    async def start(self) -> None:
        import httpx
        from a2a.client.transports.jsonrpc import JsonRpcTransport
        from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, VERSION_HEADER

        # Pool sized for 100 in flight (httpx's default keeps only 20 alive).
        self._http = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT,
            headers={VERSION_HEADER: PROTOCOL_VERSION_CURRENT},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
        self._transport = JsonRpcTransport(self._http, bench_card(self.url), self.url)

    async def request(self) -> None:
        _check_task(await self._transport.send_message(_new_send_request()))

    async def stop(self) -> None:
        await self._http.aclose()


class HttpAiohttpClient(Client):
    """The same JSON-RPC SendMessage to the same server, sent with aiohttp."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"

    async def start(self) -> None:
        import aiohttp
        from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, VERSION_HEADER

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200),
            headers={VERSION_HEADER: PROTOCOL_VERSION_CURRENT, "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )

    async def request(self) -> None:
        from a2a.types.a2a_pb2 import SendMessageResponse
        from a2a.utils.proto_utils import parse_lenient
        from google.protobuf.json_format import MessageToDict

        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": uuid.uuid4().hex,
                "method": "SendMessage",
                "params": MessageToDict(_new_send_request()),
            }
        )
        async with self._session.post(self.url, data=body) as resp:
            data = json.loads(await resp.read())
        if "result" not in data:
            raise RuntimeError(f"error reply: {data.get('error')}")
        _check_task(parse_lenient(data["result"], SendMessageResponse()))

    async def stop(self) -> None:
        await self._session.close()


class EmqxClient(Client):
    """The EMQX SDK's Requester, as shipped (one MQTT connection per stream())."""

    def __init__(self, broker: str, agent: str) -> None:
        self.broker, self.agent = broker, agent

    async def start(self) -> None:
        from a2a_over_mqtt import MqttConfig, Requester, TopicSpace

        from a2a_mqtt.transport import BrokerURL

        url = BrokerURL.parse(self.broker)
        self._requester = Requester(
            MqttConfig(host=url.host, port=url.port),
            TopicSpace(org=ORG, unit=UNIT),
            requester_id="bench-client",
        )

    async def request(self) -> None:
        from a2a_over_mqtt import REPLY_ARTIFACT, REPLY_TERMINAL, A2ARequest

        payload = A2ARequest(text=BENCH_TEXT, request_id=uuid.uuid4().hex).to_json()
        artifact = terminal = False
        async for kind, content in self._requester.stream(
            self.agent, payload, uuid.uuid4().hex[:16]
        ):
            if kind == REPLY_ARTIFACT:
                artifact = content == BENCH_TEXT
            elif kind == REPLY_TERMINAL:
                terminal = True
        if not (artifact and terminal):
            raise RuntimeError("EMQX stream ended without the artifact and completion")

    async def stop(self) -> None:
        pass


class FloorClient(Client):
    """Raw QoS 1 request/reply on our transport; no A2A encoding or handling."""

    def __init__(self, broker: str, agent: str) -> None:
        self.broker, self.agent = broker, agent
        self.payload = _floor_payload()

    async def start(self) -> None:
        from a2a_mqtt.transport import (
            BrokerURL,
            ConnectOptions,
            IncomingMessage,
            Subscription,
            create_transport,
        )

        self._req_topic = f"bench/floor/{self.agent}/req"
        self._reply_topic = f"bench/floor/{self.agent}/reply"
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._counter = itertools.count()
        self._transport = create_transport(
            ConnectOptions(
                url=BrokerURL.parse(self.broker), client_id=f"bench-floor-req-{self.agent}"
            )
        )

        def on_reply(msg: IncomingMessage) -> None:
            fut = self._pending.pop(msg.properties.correlation_data or b"", None)
            if fut is not None and not fut.done():
                fut.set_result(None)

        await self._transport.subscribe(Subscription(self._reply_topic, qos=1), on_reply)
        await self._transport.connect()

    async def request(self) -> None:
        from a2a_mqtt.transport import PublishProperties

        corr = next(self._counter).to_bytes(8, "big")
        fut = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        props = PublishProperties(response_topic=self._reply_topic, correlation_data=corr)
        try:
            await self._transport.publish(self._req_topic, self.payload, qos=1, properties=props)
            await fut
        finally:
            self._pending.pop(corr, None)

    async def stop(self) -> None:
        await self._transport.disconnect()


# -- server processes -----------------------------------------------------------------


class ServerProcess:
    """This script re-invoked with ``--serve``; stdin is its control line, EOF stops it."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self.spans: str | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_server_env(),
        )
        ready = await self.expect("READY", READY_TIMEOUT)
        self.spans = ready.partition("spans=")[2] or None

    async def expect(self, word: str, timeout: float) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.proc.stdout.readline()).decode().strip()
                if not line:
                    raise RuntimeError(f"server {self.argv} exited before {word}")
                if line == word or line.startswith(word + " "):
                    return line

    async def command(self, line: str, expect: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        await self.expect(expect, 60.0)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)


def _server_env() -> dict[str, str]:
    """This process's environment with the user's own a2a-sdk spans setting restored
    (the start-up decision may have set its default here), plus ``--server-env``."""
    env = dict(os.environ)
    env.pop(OTEL_VAR, None)
    if USER_OTEL is not None:
        env[OTEL_VAR] = USER_OTEL
    env.update(SERVER_ENV)
    return env


def _free_port() -> int:
    from a2a_mqtt.broker import free_port

    return free_port()


def make_variant(name: str, broker: str, deadline: float) -> tuple[ServerProcess, Client]:
    agent = f"{name.replace('-', '')}-{uuid.uuid4().hex[:8]}"
    common = ["--broker", broker, "--agent", agent, "--deadline", str(deadline)]
    if name == "ours":
        return ServerProcess(["--serve", "ours", *common]), OursClient(broker, agent)
    if name in ("http", "http-aiohttp"):
        port = _free_port()
        server = ServerProcess(["--serve", "http", "--port", str(port), *common])
        client: Client = HttpClient(port) if name == "http" else HttpAiohttpClient(port)
        return server, client
    if name in ("emqx", "emqx-mc100"):
        extra = ["--max-concurrent", "100"] if name == "emqx-mc100" else []
        return ServerProcess(["--serve", "emqx", *common, *extra]), EmqxClient(broker, agent)
    if name == "floor":
        return ServerProcess(["--serve", "floor", *common]), FloorClient(broker, agent)
    raise ValueError(name)


# -- measurement ----------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    scenario: str
    run: int
    n: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_client_ms: float | None = None
    cpu_server_ms: float | None = None
    cpu_broker_ms: float | None = None
    load1: float | None = None
    """1-minute load average when the phase started (other work on the box)."""
    src: str | None = None
    """Digest of src/ when this variant's server started (others may be editing it)."""
    server_spans: str | None = None
    """a2a-sdk's OpenTelemetry spans in the server process: on, off or n/a."""


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(
    client: Client, n: int, inflight: int, max_seconds: float | None = None
) -> tuple[list[float], float, int]:
    """``n`` requests with ``inflight`` workers, or fewer if ``max_seconds`` runs out
    (no new request starts after it); (latencies, seconds, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = itertools.count()
    stop_at = time.perf_counter() + max_seconds if max_seconds else float("inf")

    async def worker() -> None:
        nonlocal errors
        while next(remaining) < n and time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await client.request()
            except Exception as exc:
                errors += 1
                if errors <= 3:
                    log.warning("request failed: %r", exc)
                continue
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return latencies, time.perf_counter() - start, errors


async def measure(
    client: Client,
    *,
    server_pid: int,
    broker_pid: int | None,
    variant: str,
    scenario: str,
    run: int,
    n: int,
    inflight: int,
    max_seconds: float | None,
) -> Result:
    load1 = os.getloadavg()[0]
    cpu0 = (
        _self_cpu(),
        proc_cpu_seconds(server_pid),
        proc_cpu_seconds(broker_pid) if broker_pid else None,
    )
    latencies, seconds, errors = await drive(client, n, inflight, max_seconds)
    cpu1 = (
        _self_cpu(),
        proc_cpu_seconds(server_pid),
        proc_cpu_seconds(broker_pid) if broker_pid else None,
    )
    done = max(1, len(latencies) + errors)

    def per_req(i: int) -> float | None:
        a, b = cpu0[i], cpu1[i]
        return None if a is None or b is None else (b - a) * 1000 / done

    stats = summarize(latencies, seconds, errors)
    return Result(
        variant=variant,
        scenario=scenario,
        run=run,
        n=stats.n,
        seconds=seconds,
        rps=stats.rps,
        p50_ms=stats.p50_ms,
        p99_ms=stats.p99_ms,
        errors=errors,
        cpu_client_ms=per_req(0),
        cpu_server_ms=per_req(1),
        cpu_broker_ms=per_req(2),
        load1=load1,
    )


async def run_variant(
    name: str, broker_url: str, broker_pid: int | None, args: argparse.Namespace, run: int
) -> list[Result]:
    server, client = make_variant(name, broker_url, args.deadline)
    results: list[Result] = []
    src = _src_digest()
    await server.start()
    try:
        await client.start()
        try:
            # Warm-up: sequential, then a burst at the highest concurrency (opens pools).
            await drive(client, args.warmup, 1, args.seq_max_seconds / 4)
            await drive(
                client, args.warmup, max(i for _, i in SCENARIOS), args.conc_max_seconds / 4
            )
            for scenario, inflight in SCENARIOS:
                n, cap = (
                    (args.seq_n, args.seq_max_seconds)
                    if inflight == 1
                    else (args.conc_n, args.conc_max_seconds)
                )
                results.append(
                    await measure(
                        client,
                        server_pid=server.pid,
                        broker_pid=broker_pid,
                        variant=name,
                        scenario=scenario,
                        run=run,
                        n=n,
                        inflight=inflight,
                        max_seconds=cap,
                    )
                )
        finally:
            await client.stop()
    finally:
        await server.stop()
    for result in results:
        result.src = src
        # Only the a2a-sdk based servers run DefaultRequestHandler.
        result.server_spans = server.spans if name in ("ours", "http", "http-aiohttp") else "n/a"
    return results


# -- CPU profile of our path ----------------------------------------------------------

_IDLE = {
    "<method 'poll' of 'select.epoll' objects>",
    "<built-in method select.select>",
    "<method 'select' of 'select.epoll' objects>",
}
_SOCKET = ("of '_socket.socket' objects>", "of '_ssl._SSLSocket' objects>")


def _package(func: tuple[str, int, str]) -> str | None:
    """The package a function belongs to; None for a C builtin."""
    filename = func[0]
    if filename == "~":
        return None
    f = filename.replace("\\", "/")
    if f.startswith("<frozen"):
        return "other (stdlib/3rd-party)"
    if "/a2a_mqtt/" in f:
        return "a2a_mqtt (ours)"
    if f.startswith(str(HERE)) or "/bench/" in f:
        return "bench (executor, driver)"
    if "/paho/" in f:
        return "paho-mqtt"
    if "/site-packages/a2a/" in f:
        return "a2a-sdk"
    if "/opentelemetry/" in f:
        return "opentelemetry (a2a-sdk spans)"
    if "/culsans/" in f or "/aiologic/" in f:
        return "culsans+aiologic (a2a-sdk queues)"
    if "/google/protobuf/" in f:
        return "google.protobuf"
    if "/json/" in f:
        return "json"
    if "/asyncio/" in f:
        return "asyncio"
    if "/uuid.py" in f:
        return "uuid"
    if "/jsonrpc/" in f:
        return "jsonrpc (lib)"
    return "other (stdlib/3rd-party)"


def breakdown(path: str, requests: int) -> dict[str, Any]:
    """Own time by package in µs per request; builtins charged to their caller's package."""
    st = pstats.Stats(path)
    own: dict[str, float] = defaultdict(float)
    idle = 0.0
    raw = st.stats  # type: ignore[attr-defined]
    for func, (_cc, _nc, tt, _ct, callers) in raw.items():
        pkg = _package(func)
        if pkg is not None:
            own[pkg] += tt
            continue
        name = func[2]
        if name in _IDLE:
            idle += tt
            continue
        if name.endswith(_SOCKET):
            own["socket syscalls"] += tt
            continue
        total_from_callers = sum(v[2] for v in callers.values()) or 0.0
        if not callers or total_from_callers <= 0:
            own["C builtins (unattributed)"] += tt
            continue
        for caller, v in callers.items():
            share = tt * v[2] / total_from_callers
            own[_package(caller) or "C builtins (unattributed)"] += share
    total = sum(own.values())
    top = sorted(
        ((tt, f) for f, (_cc, _nc, tt, _ct, _c) in raw.items() if f[2] not in _IDLE), reverse=True
    )[:25]
    cumulative = sorted(
        (
            (ct, f)
            for f, (_cc, _nc, _tt, ct, _c) in raw.items()
            if _package(f) in ("a2a_mqtt (ours)", "a2a-sdk")
        ),
        reverse=True,
    )[:25]

    def label(f: tuple[str, int, str]) -> str:
        if f[0] == "~":
            return f[2]
        parts = Path(f[0]).parts
        short = "/".join(parts[-2:])
        return f"{short}:{f[1]}({f[2]})"

    return {
        "requests": requests,
        "busy_us_per_request": total * 1e6 / requests,
        "idle_us_per_request": idle * 1e6 / requests,
        "own_by_package": {
            k: {"us_per_request": v * 1e6 / requests, "percent": 100 * v / total if total else 0.0}
            for k, v in sorted(own.items(), key=lambda kv: -kv[1])
        },
        "top_own": [{"function": label(f), "us_per_request": t * 1e6 / requests} for t, f in top],
        "top_cumulative_ours_and_sdk": [
            {"function": label(f), "us_per_request": c * 1e6 / requests} for c, f in cumulative
        ],
    }


def _frame_package(frame: str) -> str:
    """Package of one py-spy frame ``func (/path/file.py:line)``."""
    start = frame.rfind(" (")
    path = frame[start + 2 :].rsplit(":", 1)[0] if start >= 0 else ""
    return _package((path or "?", 0, frame)) or "other (stdlib/3rd-party)"


def _func_name(frame: str) -> str:
    """``module.py Class.func`` of a py-spy frame, without the line number."""
    func, _, where = frame.partition(" (")
    return f"{'/'.join(Path(where.rsplit(':', 1)[0]).parts[-2:])} {func}"


def _is_idle_leaf(frame: str) -> bool:
    """A sample blocked in the selector or waitpid (py-spy's idle detection misses some)."""
    return ("select (" in frame and "selectors.py" in frame) or "_do_waitpid (" in frame


_SDK_LAYER = frozenset(
    {
        "a2a-sdk",
        "opentelemetry (a2a-sdk spans)",
        "culsans+aiologic (a2a-sdk queues)",
    }
)
LAYERS = (
    "a2a-sdk (handler, its spans and queues)",
    "a2a_mqtt transport (create_transport: asyncio + the mqtt5 codec)",
    "a2a_mqtt binding/server/client (+ protobuf JSON, json)",
    "bench (executor body, request driver)",
    "event loop and other",
)


def _layer(frames: list[str]) -> str:
    """Which layer a sample belongs to: the outermost owner wins, in LAYERS order.

    A sample anywhere under an a2a-sdk frame is the handler's (including the executor
    and what the SDK calls); else under an ``a2a_mqtt.transport`` or paho frame, the
    transport's; else under another a2a_mqtt frame, ours; else under a bench frame
    (the executor body, the driver loop), the bench's; else the loop's.
    """
    paths = [f[f.rfind(" (") + 2 :] for f in frames]
    # parse_lenient is a one-line ParseDict wrapper our client calls: not the SDK's work.
    pkgs = [
        _frame_package(f) if "/a2a/utils/proto_utils.py" not in f else "google.protobuf"
        for f in frames
    ]
    if any(p in _SDK_LAYER for p in pkgs):
        return LAYERS[0]
    if any("/a2a_mqtt/transport/" in p or "/paho/" in p for p in paths):
        return LAYERS[1]
    if "a2a_mqtt (ours)" in pkgs:
        return LAYERS[2]
    if "bench (executor, driver)" in pkgs and pkgs[-1] != "asyncio":
        return LAYERS[3]
    return LAYERS[4]


def breakdown_spy(path: str, requests: int, rate: int) -> dict[str, Any]:
    """Samples by package: own (leaf frame, which includes the C code it calls) and
    inclusive (the package anywhere on the stack), in µs per request."""
    own: dict[str, int] = defaultdict(int)
    incl: dict[str, int] = defaultdict(int)
    layers: dict[str, int] = defaultdict(int)
    ours_incl: dict[str, int] = defaultdict(int)
    leaf_funcs: dict[str, int] = defaultdict(int)
    total = idle = other_threads = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        if not frames[0].startswith("<module> ("):
            # Not the main (event loop) thread: asyncio's default-executor workers blocked
            # on their queue, the child watcher in waitpid. py-spy counts them as active.
            other_threads += count
            continue
        if _is_idle_leaf(frames[-1]):
            idle += count
            continue
        total += count
        layers[_layer(frames)] += count
        own[_frame_package(frames[-1])] += count
        leaf_funcs[frames[-1]] += count
        for pkg in {_frame_package(f) for f in frames}:
            incl[pkg] += count
        for func in {_func_name(f) for f in frames if "/a2a_mqtt/" in f}:
            ours_incl[func] += count
    us = 1e6 / rate / requests

    def label(frame: str) -> str:
        func, _, where = frame.partition(" (")
        parts = Path(where.rstrip(")")).parts
        return f"{'/'.join(parts[-2:])} {func}"

    return {
        "requests": requests,
        "samples": total,
        "rate_hz": rate,
        "busy_us_per_request": total * us,
        "idle_us_per_request": idle * us,
        "other_threads_samples": other_threads,
        "by_layer": {
            k: {"us_per_request": layers[k] * us, "percent": 100 * layers[k] / total}
            for k in LAYERS
            if total
        },
        "own_by_package": {
            k: {"us_per_request": v * us, "percent": 100 * v / total}
            for k, v in sorted(own.items(), key=lambda kv: -kv[1])
        },
        "inclusive_by_package": {
            k: {"us_per_request": v * us, "percent": 100 * v / total}
            for k, v in sorted(incl.items(), key=lambda kv: -kv[1])
        },
        "top_own": [
            {"function": label(f), "us_per_request": c * us}
            for f, c in sorted(leaf_funcs.items(), key=lambda kv: -kv[1])[:25]
        ],
        "top_inclusive_ours": [
            {"function": f, "us_per_request": c * us, "percent": 100 * c / total}
            for f, c in sorted(ours_incl.items(), key=lambda kv: -kv[1])[:25]
        ],
    }


class _Pinning:
    """Pin the profiled process alone on the last CPU and everything else on the others,
    so a sample is (nearly) always CPU time: an unpinned process on a busy 2-core box
    sits runnable-but-preempted right after each send() wakes the broker, and a
    wall-clock sampler charges that wait to the frame that happened to be on top."""

    def __init__(self, alone: int, others: list[int]) -> None:
        self.alone, self.others = alone, others
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.active = len(self.cpus) >= 2

    def _set(self, pid: int, cpus: list[int]) -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)

    def __enter__(self) -> _Pinning:
        if self.active:
            self._set(self.alone, self.cpus[-1:])
            for pid in self.others:
                self._set(pid, self.cpus[:-1])
        return self

    def add_other(self, pid: int) -> None:
        if self.active:
            self._set(pid, self.cpus[:-1])

    def __exit__(self, *exc: object) -> None:
        if self.active:
            for pid in (self.alone, *self.others):
                self._set(pid, self.cpus)


async def _spy_pass(
    side: str,
    server: ServerProcess,
    client: Client,
    *,
    broker_pid: int | None,
    out: Path,
    n: int,
    rate: int,
    pin: bool,
) -> dict[str, Any]:
    """Sample one side (``server`` or ``client``) during ``n`` sequential requests."""
    me = os.getpid()
    target = server.pid if side == "server" else me
    others = [p for p in (server.pid, me, broker_pid) if p is not None and p != target]
    pinning = _Pinning(target, others if pin else [])
    pinning.active = pinning.active and pin
    with pinning:
        spy = await start_py_spy(target, out, rate)
        pinning.add_other(spy.pid)
        try:
            await asyncio.sleep(1.5)  # let py-spy attach; idle samples are not recorded
            cpu0 = proc_cpu_seconds(target)
            _lat, seconds, errors = await drive(client, n, 1)
            cpu1 = proc_cpu_seconds(target)
        finally:
            await stop_py_spy(spy, log=log, strict=True)
    result = breakdown_spy(str(out), n, rate)
    result["pinned"] = pinning.active
    measured = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1e6 / n
    result["measured_cpu_us_per_request"] = measured
    sampled = result["busy_us_per_request"]
    if measured and sampled:
        # Samples also land while the process is runnable but not running (other load on
        # the box, py-spy's own pauses): keep the shares, scale the µs to the CPU measured.
        scale = measured / sampled
        for table_name in ("by_layer", "own_by_package", "inclusive_by_package"):
            for entry in result[table_name].values():
                entry["us_per_request"] *= scale
        for entry in (*result["top_own"], *result["top_inclusive_ours"]):
            entry["us_per_request"] *= scale
        result["us_scaled_to_measured_cpu"] = True
    result["seconds"] = seconds
    result["errors"] = errors
    return result


async def profile_ours(
    broker_url: str, broker_pid: int | None, args: argparse.Namespace
) -> dict[str, Any]:
    tool = args.profiler
    if tool == "auto":
        tool = "py-spy" if have_py_spy() else "cprofile"
    server, client = make_variant("ours", broker_url, args.deadline)
    tmp = Path(tempfile.mkdtemp(prefix="a2a-compare-prof-"))
    n, rate = args.profile_n, args.spy_rate
    ext = "txt" if tool == "py-spy" else "prof"
    server_out, client_out = tmp / f"server.{ext}", tmp / f"client.{ext}"
    sides: dict[str, Any] = {}
    await server.start()
    try:
        await client.start()
        try:
            await drive(client, args.warmup, 1)
            if tool == "py-spy":
                for side, out in (("server", server_out), ("client", client_out)):
                    sides[side] = await _spy_pass(
                        side,
                        server,
                        client,
                        broker_pid=broker_pid,
                        out=out,
                        n=n,
                        rate=rate,
                        pin=not args.no_pin,
                    )
            else:
                await server.command("profile-start", "PROFILING")
                profiler = cProfile.Profile()
                profiler.enable()
                await drive(client, n, 1)
                profiler.disable()
                await server.command(f"profile-stop {server_out}", "PROFILED")
                profiler.dump_stats(str(client_out))
                sides = {
                    "server": breakdown(str(server_out), n),
                    "client": breakdown(str(client_out), n),
                }
        finally:
            await client.stop()
    finally:
        await server.stop()
    return {
        "tool": tool,
        "n": n,
        **sides,
        "files": {"server": str(server_out), "client": str(client_out)},
    }


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
                        _new_send_request(), ServerCallContext()
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
        env = _server_env()
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


def _micro_child(args: argparse.Namespace) -> int:
    result = asyncio.run(micro(args))
    result["spans"] = _spans_state()
    print(json.dumps(result))
    return 0


# -- reporting ------------------------------------------------------------------------


def median_rows(results: list[Result]) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        grouped.setdefault((r.variant, r.scenario), []).append(r)
    rows = []
    for (variant, scenario), rs in grouped.items():

        def med(attr: str, rs: list[Result] = rs) -> float:
            return median([getattr(r, attr) for r in rs if getattr(r, attr) is not None])

        rows.append(
            {
                "variant": variant,
                "scenario": scenario,
                "runs": len(rs),
                "n": int(med("n")),
                "rps": med("rps"),
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "errors": sum(r.errors for r in rs),
                "cpu_client_ms": med("cpu_client_ms"),
                "cpu_server_ms": med("cpu_server_ms"),
                "cpu_broker_ms": med("cpu_broker_ms"),
                "load1": med("load1"),
                "server_spans": max(
                    {r.server_spans for r in rs}, key=[r.server_spans for r in rs].count
                ),
            }
        )
    order = {v: i for i, v in enumerate(VARIANTS)}
    sorder = {s: i for i, (s, _) in enumerate(SCENARIOS)}
    rows.sort(key=lambda r: (sorder[str(r["scenario"])], order[str(r["variant"])]))
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or math.isnan(v) else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | variant | n | req/s | p50 ms | p99 ms | CPU ms/req: client | "
        "server | broker | total | load | sdk spans | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        parts = [r.get(k) for k in ("cpu_client_ms", "cpu_server_ms", "cpu_broker_ms")]
        total = sum(p for p in parts if p is not None and not math.isnan(p))
        lines.append(
            f"| {r['scenario']} | {r['variant']} | {r['n']} | {_fmt(r['rps'], ',.0f')} | "
            f"{_fmt(r['p50_ms'], '.2f')} | {_fmt(r['p99_ms'], '.2f')} | "
            f"{_fmt(r['cpu_client_ms'], '.2f')} | {_fmt(r['cpu_server_ms'], '.2f')} | "
            f"{_fmt(r['cpu_broker_ms'], '.2f')} | {total:.2f} | {_fmt(r.get('load1'), '.1f')} | "
            f"{r.get('server_spans') or '-'} | {r['errors']} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    at = {(r["variant"], r["scenario"]): r for r in rows}

    def get(variant: str, scenario: str, key: str) -> float | None:
        row = at.get((variant, scenario))
        return None if row is None else row[key]

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or not b else a / b

    seq, c100 = "sequential", "100 in flight"
    out: dict[str, Any] = {
        "p50 seq: ours / http (<= 1 meets)": ratio(
            get("ours", seq, "p50_ms"), get("http", seq, "p50_ms")
        ),
        "req/s @100: ours / http (>= 1 meets)": ratio(
            get("ours", c100, "rps"), get("http", c100, "rps")
        ),
        "req/s @100: ours / emqx (>= 2 meets)": ratio(
            get("ours", c100, "rps"), get("emqx", c100, "rps")
        ),
        "req/s @100: ours / emqx-mc100": ratio(
            get("ours", c100, "rps"), get("emqx-mc100", c100, "rps")
        ),
        "p50 seq: ours / http-aiohttp": ratio(
            get("ours", seq, "p50_ms"), get("http-aiohttp", seq, "p50_ms")
        ),
        "req/s @100: ours / http-aiohttp": ratio(
            get("ours", c100, "rps"), get("http-aiohttp", c100, "rps")
        ),
    }
    for scenario, _ in SCENARIOS:
        out[f"req/s {scenario}: ours / floor"] = ratio(
            get("ours", scenario, "rps"), get("floor", scenario, "rps")
        )
    out["p50 seq: ours / floor"] = ratio(get("ours", seq, "p50_ms"), get("floor", seq, "p50_ms"))
    return out


def targets(r: dict[str, Any]) -> dict[str, bool | None]:
    def check(key: str, ok: Callable[[float], bool]) -> bool | None:
        v = r.get(key)
        return None if v is None else ok(v)

    return {
        "sequential p50 <= a2a-sdk HTTP": check(
            "p50 seq: ours / http (<= 1 meets)", lambda v: v <= 1.0
        ),
        "throughput @100 >= a2a-sdk HTTP": check(
            "req/s @100: ours / http (>= 1 meets)", lambda v: v >= 1.0
        ),
        "throughput @100 >= 2x EMQX SDK": check(
            "req/s @100: ours / emqx (>= 2 meets)", lambda v: v >= 2.0
        ),
    }


def print_profile(prof: dict[str, Any]) -> None:
    if prof["tool"] == "py-spy":
        how = (
            f"py-spy sampling at {prof['server']['rate_hz']} Hz; own = leaf "
            "Python frame, including the C code it calls; inclusive = package anywhere "
            "on the stack"
        )
    else:
        how = (
            "cProfile (inflates call-heavy Python code); own time, C builtins charged to "
            "their caller's package; epoll wait excluded"
        )
    print(f"\nCPU profile of our path: {prof['n']} sequential SendMessage requests; {how}")
    for side in ("client", "server"):
        b = prof[side]
        measured = b.get("measured_cpu_us_per_request")
        print(
            f"\n  {side}: {b['busy_us_per_request']:.0f} µs sampled busy per request"
            + (
                f", {measured:.0f} µs CPU measured (/proc; µs below are scaled to it)"
                if measured is not None
                else ""
            )
            + (", pinned alone on one CPU" if b.get("pinned") else "")
        )
        if b.get("by_layer"):
            print(f"    {'layer (outermost owner on the stack)':<56} {'%':>6} {'µs/req':>8}")
            for layer, v in b["by_layer"].items():
                print(f"    {layer:<56} {v['percent']:5.1f}  {v['us_per_request']:8.1f}")
        incl = b.get("inclusive_by_package", {})
        print(
            f"    {'package (own time)':<36} {'own %':>6} {'µs/req':>8}"
            + ("  incl %" if incl else "")
        )
        for pkg, v in b["own_by_package"].items():
            extra = f"  {incl[pkg]['percent']:5.1f}" if pkg in incl else ""
            print(f"    {pkg:<36} {v['percent']:5.1f}  {v['us_per_request']:8.1f}{extra}")
        print("    top functions by own time (µs/req):")
        for item in b["top_own"][:12]:
            print(f"      {item['us_per_request']:7.1f}  {item['function']}")
        if b.get("top_inclusive_ours"):
            print("    our functions by inclusive time (µs/req, % of busy):")
            for item in b["top_inclusive_ours"][:12]:
                print(
                    f"      {item['us_per_request']:7.1f}  {item['percent']:5.1f} %  "
                    f"{item['function']}"
                )


def _src_digest() -> str:
    import hashlib

    digest = hashlib.sha256()
    root = HERE.parent
    for path in sorted((root / "src").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _git_state() -> dict[str, Any]:
    """HEAD, the locally modified files, and a digest of src/ as measured."""
    import subprocess

    root = HERE.parent

    def git(*argv: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(root), *argv],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "modified": git("status", "--porcelain", "--", "src").splitlines(),
        "src_sha256": _src_digest(),
    }


def environment() -> dict[str, Any]:
    loop, http = _http_impl()
    from a2a_mqtt.broker import find_mosquitto

    try:
        import subprocess

        mosq = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.splitlines()[0]
    except Exception:
        mosq = "mosquitto (version unknown)"
    from google.protobuf.internal import api_implementation

    return {
        "git": _git_state(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "mosquitto": mosq,
        "uvicorn_loop": loop,
        "uvicorn_http": http,
        "protobuf_backend": api_implementation.Type(),
        "versions": {
            d: _version(d)
            for d in (
                "a2a-mqtt",
                "a2a-sdk",
                "a2a-over-mqtt",
                "paho-mqtt",
                "aiomqtt",
                "protobuf",
                "httpx",
                "aiohttp",
                "uvicorn",
                "starlette",
            )
        },
    }


# -- main -----------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    from a2a_mqtt.broker import EmbeddedBroker

    env = environment()
    print(
        f"git {env['git']['head']} (src digest {env['git']['src_sha256']}, "
        f"{len(env['git']['modified'])} src paths modified)"
    )
    print(
        f"Python {env['python']} on {env['cpus']} CPUs, load {env['loadavg_at_start']}; "
        f"{env['mosquitto']}; uvicorn loop={env['uvicorn_loop']} http={env['uvicorn_http']}; "
        f"protobuf {env['protobuf_backend']}",
        flush=True,
    )
    results: list[Result] = []
    prof: dict[str, Any] | None = None
    started = time.perf_counter()
    async with asyncio.timeout(args.deadline), EmbeddedBroker() as broker:
        broker_pid = broker.process.pid
        print(f"broker {broker.url} (EmbeddedBroker, default BrokerConfig)", flush=True)
        if not args.profile_only:
            variants = list(args.variants)
            for run in range(1, args.runs + 1):
                # Rotate the order every run so no variant always goes first.
                shift = (run - 1) % len(variants)
                for name in variants[shift:] + variants[:shift]:
                    rs = await run_variant(name, broker.url, broker_pid, args, run)
                    results += rs
                    summary = "; ".join(
                        f"{r.scenario}: {r.rps:,.0f}/s p50 {r.p50_ms:.2f} ms"
                        + (f" ({r.errors} errors)" if r.errors else "")
                        for r in rs
                    )
                    print(f"run {run}/{args.runs} {name:<13} {summary}", flush=True)
        if args.profile_n > 0 and "ours" in args.variants:
            prof = await profile_ours(broker.url, broker_pid, args)
    micro_result = await micro_both(args) if args.micro_n > 0 else None
    if micro_result is not None:
        print_micro(micro_result, args.micro_n)
    rows = median_rows(results)
    rat = ratios(rows) if rows else {}
    tgt = targets(rat) if rows else {}
    if rows:
        print(
            f"\nMedians of {args.runs} run(s); sequential n={args.seq_n} (or "
            f"{args.seq_max_seconds:g} s), concurrent n={args.conc_n} (or "
            f"{args.conc_max_seconds:g} s), warm-up {args.warmup}+{args.warmup}"
        )
        print(table(rows))
        print("\nRatios:")
        for k, v in rat.items():
            print(f"  {k:<42} {_fmt(v, '.2f')}")
        print("\nTargets:")
        for k, ok in tgt.items():
            print(f"  {k:<42} {'met' if ok else ('MISSED' if ok is not None else '-')}")
    if prof is not None:
        print_profile(prof)
    if micro_result is not None and rows:
        print_beyond_handler(rows, micro_result)
    elapsed = time.perf_counter() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = (
        Path(args.json)
        if args.json
        else (RESULTS_DIR / f"a2a_compare-{time.strftime('%Y%m%d-%H%M%S')}.json")
    )
    out.write_text(
        json.dumps(
            {
                "environment": env,
                "elapsed_seconds": elapsed,
                "loadavg_at_end": os.getloadavg(),
                "args": {k: v for k, v in vars(args).items() if k != "serve"},
                "medians": rows,
                "ratios": rat,
                "targets": tgt,
                "profile": prof,
                "micro": micro_result,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
    )
    print(f"\n{elapsed:.0f} s; results written to {out}")
    return 0


def print_micro(micro_result: dict[str, Any], n: int) -> None:
    print(f"\na2a-sdk DefaultRequestHandler alone, in-process, no network (median of 5 x {n}):")
    for state in ("on", "off"):
        m = micro_result.get(f"spans_{state}")
        if m:
            print(
                f"  spans {state:<3}: {m['inflight_1_us']:5.0f} µs CPU per SendMessage at 1 in "
                f"flight, {m['inflight_100_us']:5.0f} µs at 100 in flight"
            )


def print_beyond_handler(rows: list[dict[str, Any]], micro_result: dict[str, Any]) -> None:
    """Server CPU per request minus the handler's own (same spans setting)."""
    print("\nServer CPU per request beyond the a2a-sdk handler (measured minus in-process):")
    for row in rows:
        if row["variant"] not in ("ours", "http") or row["scenario"] == "10 in flight":
            continue
        m = micro_result.get(f"spans_{row.get('server_spans')}")
        cpu = row["cpu_server_ms"]
        if not m or cpu is None or math.isnan(cpu):
            continue
        handler = m["inflight_1_us" if row["scenario"] == "sequential" else "inflight_100_us"]
        print(
            f"  {row['variant']:<5} {row['scenario']:<14} (spans {row['server_spans']}) server "
            f"{cpu * 1000:5.0f} µs - handler {handler:5.0f} µs = {cpu * 1000 - handler:5.0f} µs"
        )


def report(path: Path) -> int:
    """Re-print the tables of a results file (medians recomputed from the raw results)."""
    data = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(Result)}
    results = [Result(**{k: v for k, v in r.items() if k in fields}) for r in data["results"]]
    rows = median_rows(results)
    env = data["environment"]
    print(
        f"{path.name}: git {env['git']['head']} src {env['git']['src_sha256']}, "
        f"{env['cpus']} CPUs, load {env['loadavg_at_start'][0]:.1f} at start, "
        f"{data['args']['runs']} runs"
    )
    print(table(rows))
    print("\nRatios:")
    for k, v in ratios(rows).items():
        print(f"  {k:<42} {_fmt(v, '.2f')}")
    for k, ok in targets(ratios(rows)).items():
        print(f"  {k:<42} {'met' if ok else ('MISSED' if ok is not None else '-')}")
    if data.get("profile"):
        print_profile(data["profile"])
    micro_result = data.get("micro")
    if micro_result and "spans_on" in micro_result:
        print_micro(micro_result, micro_result["spans_on"]["n"])
        print_beyond_handler(rows, micro_result)
    elif micro_result:
        print(
            f"\na2a-sdk handler alone: {micro_result['inflight_1_us']:.0f} µs (1 in flight), "
            f"{micro_result['inflight_100_us']:.0f} µs (100 in flight)"
        )
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seq-n", type=int, default=1000)
    parser.add_argument("--conc-n", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--seq-max-seconds",
        type=float,
        default=10.0,
        help="cap on one sequential phase (the EMQX SDK does ~20 req/s)",
    )
    parser.add_argument(
        "--conc-max-seconds", type=float, default=20.0, help="cap on one concurrent phase"
    )
    parser.add_argument(
        "--profile-n",
        type=int,
        default=2000,
        help="sequential requests profiled on our path (0 = skip)",
    )
    parser.add_argument("--profile-only", action="store_true")
    parser.add_argument(
        "--report", metavar="JSON", help="print the tables of an earlier results file and exit"
    )
    parser.add_argument(
        "--micro-n",
        type=int,
        default=1000,
        help="requests per round of the in-process handler/dispatcher split (0 = skip)",
    )
    parser.add_argument(
        "--profiler",
        choices=("auto", "py-spy", "cprofile"),
        default="auto",
        help="auto: py-spy if installed, else cProfile",
    )
    parser.add_argument("--spy-rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the profiled process alone on one CPU"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--deadline", type=float, default=1500.0, help="hard limit, seconds")
    parser.add_argument("--json", default=None, help="results file (default bench/results/...)")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in every server process, e.g. "
        "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=false (repeatable)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 run, n=100/300, warm-up 30, profile 200"
    )
    # Internal: run one server (child process).
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max-concurrent", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--micro-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.seq_n, args.conc_n, args.warmup = 1, 100, 300, 30
        args.profile_n = min(args.profile_n, 200)
        args.micro_n = min(args.micro_n, 200)
    for name in ("runs", "seq_n", "conc_n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _child(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"[{args.serve} server] %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(SERVERS[args.serve](args))
    return 0


if __name__ == "__main__":
    _args = parse_args(sys.argv[1:])
    if _args.serve:
        sys.exit(_child(_args))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt's pending-publish warnings
    for item in _args.server_env:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--server-env needs KEY=VALUE, got {item!r}")
        SERVER_ENV[key] = value
    if _args.report:
        sys.exit(report(Path(_args.report)))
    if _args.micro_child:
        sys.exit(_micro_child(_args))
    sys.exit(asyncio.run(main(_args)))
