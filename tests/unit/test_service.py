"""One service shape: Config -> Server (async context manager) -> serve(stop) -> run(config)."""

from __future__ import annotations

import asyncio
import inspect
import signal
from contextlib import AsyncExitStack
from types import TracebackType

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.gateway import ExposeConfig, ExposedAgent, ExposeHost, GatewayConfig, GatewayServer
from a2a_mqtt.mcp import McpMqttServer
from a2a_mqtt.registry import RegistryConfig, RegistryServer
from a2a_mqtt.security.jwks_server import JwksServer
from a2a_mqtt.server import AgentConfig, AgentHost, AgentServer
from a2a_mqtt.server.workers import WorkerSupervisor
from a2a_mqtt.service import BaseServer, HttpServer, Server, serve_until_stopped
from a2a_mqtt.workflows.events import StageServer
from a2a_mqtt.workflows.supervisor import Supervisor

CONFIGS = [
    (AgentConfig(ref=AgentRef.parse("a/b/c"), card=echo_card(), executor=EchoExecutor()),
     AgentServer),
    (RegistryConfig(), RegistryServer),
    (DashboardConfig(), DashboardServer),
    (GatewayConfig(), GatewayServer),
    (ExposeConfig(agents=(ExposedAgent(url="http://h:1", ref=AgentRef.parse("a/b/c")),)),
     ExposeHost),
]
SERVERS = [AgentServer, AgentHost, RegistryServer, GatewayServer, ExposeHost, McpMqttServer,
           DashboardServer, Supervisor, StageServer, JwksServer]


@pytest.mark.parametrize(("config", "server_type"), CONFIGS,
                         ids=[type(c).__name__ for c, _ in CONFIGS])
def test_every_config_is_frozen_and_names_its_server(config: object, server_type: type) -> None:
    with pytest.raises(AttributeError):
        config.connection = None  # type: ignore[attr-defined]
    server = config.server()  # type: ignore[attr-defined]
    assert type(server) is server_type
    assert isinstance(server, Server)


@pytest.mark.parametrize("server_type", [*SERVERS, WorkerSupervisor], ids=lambda t: t.__name__)
def test_every_server_has_the_same_serve_and_is_an_async_context_manager(
        server_type: type) -> None:
    params = inspect.signature(server_type.serve).parameters
    assert list(params)[:2] == ["self", "stop"]
    assert params["stop"].default is None
    assert params["on_ready"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.iscoroutinefunction(server_type.serve)
    assert hasattr(server_type, "__aenter__") and hasattr(server_type, "__aexit__")


@pytest.mark.parametrize("server_type", SERVERS, ids=lambda t: t.__name__)
def test_every_server_has_its_lifecycle_from_the_base(server_type: type) -> None:
    # Written once: no server keeps its own start/stop bookkeeping.
    assert issubclass(server_type, BaseServer)
    assert server_type.__aenter__ is BaseServer.__aenter__
    assert server_type.serve is BaseServer.serve


def test_the_worker_supervisor_has_its_lifecycle_from_the_base() -> None:
    # Its serve only adds the one way it can end by itself (every worker kept failing).
    assert issubclass(WorkerSupervisor, BaseServer)
    assert WorkerSupervisor.__aenter__ is BaseServer.__aenter__
    assert WorkerSupervisor.stop is BaseServer.stop
    assert WorkerSupervisor.start is BaseServer.start


class _Resource:
    """Records the order of what serve_until_stopped does with it."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def __aenter__(self) -> _Resource:
        self.steps.append("enter")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.steps.append("exit")


@pytest.mark.asyncio
async def test_serve_enters_announces_waits_for_stop_and_leaves() -> None:
    resource, stop = _Resource(), asyncio.Event()

    def ready() -> None:
        resource.steps.append("ready")
        asyncio.get_running_loop().call_soon(stop.set)

    await asyncio.wait_for(serve_until_stopped(resource, stop, on_ready=ready), 5)
    assert resource.steps == ["enter", "ready", "exit"]


@pytest.mark.asyncio
async def test_a_failing_start_propagates_and_the_signal_handlers_are_removed() -> None:
    class Broken(_Resource):
        async def __aenter__(self) -> _Resource:
            raise OSError("port in use")

    loop = asyncio.get_running_loop()
    with pytest.raises(OSError, match="port in use"):
        await serve_until_stopped(Broken())
    # No handler of ours is left behind: removing one reports False.
    assert loop.remove_signal_handler(signal.SIGTERM) is False
    assert loop.remove_signal_handler(signal.SIGINT) is False


class _Parts(BaseServer):
    """Starts three recorded parts; ``fail_at`` makes the start of that part raise."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.steps: list[str] = []
        self.fail_at = fail_at
        self.task: asyncio.Task[None] | None = None

    async def _start(self, stack: AsyncExitStack) -> None:
        for part in ("a", "b", "c"):
            if part == self.fail_at:
                raise OSError(f"{part} failed")
            self.steps.append(f"start {part}")
            stack.callback(self.steps.append, f"stop {part}")
        self.task = self._start_task(stack, asyncio.Event().wait(), "parts.idle")


@pytest.mark.asyncio
async def test_a_base_server_stops_its_parts_in_reverse_and_may_start_again() -> None:
    server = _Parts()
    async with server:
        assert server.steps == ["start a", "start b", "start c"]
        assert server.task is not None and server.task.get_name() == "parts.idle"
    assert server.steps[3:] == ["stop c", "stop b", "stop a"]
    assert server.task.cancelled()  # background tasks end with the server
    await server.stop()  # a second stop does nothing
    assert len(server.steps) == 6
    async with server:  # reusable
        pass
    assert len(server.steps) == 12


@pytest.mark.asyncio
async def test_a_base_server_is_not_reentrant() -> None:
    server = _Parts()
    async with server:
        with pytest.raises(RuntimeError, match="_Parts is already running"):
            await server.start()
    assert server.steps[-1] == "stop a"


@pytest.mark.asyncio
async def test_a_failed_start_undoes_what_started_and_leaves_it_startable() -> None:
    server = _Parts(fail_at="c")
    with pytest.raises(OSError, match="c failed"):
        await server.start()
    assert server.steps == ["start a", "start b", "stop b", "stop a"]
    server.fail_at = None
    async with server:
        pass


class _Draining(_Parts):
    """Records its graceful drain (the part of a stop a failed start skips)."""

    async def _drain(self) -> None:
        self.steps.append("drain")


@pytest.mark.asyncio
async def test_a_stop_drains_before_the_parts_stop_and_a_failed_start_does_not() -> None:
    server = _Draining()
    async with server:
        pass
    assert server.steps[3:] == ["drain", "stop c", "stop b", "stop a"]
    failing = _Draining(fail_at="b")
    with pytest.raises(OSError, match="b failed"):
        await failing.start()
    assert failing.steps == ["start a", "stop a"]


def test_an_http_server_has_no_url_until_it_serves() -> None:
    class Idle(HttpServer):
        async def _start(self, stack: AsyncExitStack) -> None:
            pass

    with pytest.raises(RuntimeError, match="Idle is not running"):
        _ = Idle().url
