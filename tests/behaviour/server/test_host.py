"""AgentHost: one agent's failed start fails the host at once, without waiting for the
others' starts (they are cancelled and undo themselves)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import StoreError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.mqtt_types import ConnectOptions
from a2a_mqtt.server import AgentConfig, AgentHost, AgentServer
from a2a_mqtt.transport.base import MqttTransport, default_transport


class _StuckConnect:
    """A real transport whose CONNECT never completes (a broker that does not answer)."""

    def __init__(self, real: MqttTransport, entered: asyncio.Event) -> None:
        self._real = real
        self._entered = entered

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def connect(self) -> None:
        self._entered.set()
        await asyncio.Event().wait()


@pytest.mark.asyncio
async def test_a_failed_start_cancels_the_other_agents_starts(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    connecting = asyncio.Event()  # set once the stuck agent is in its CONNECT

    def factory(options: ConnectOptions) -> MqttTransport:
        return _StuckConnect(default_transport(options), connecting)  # type: ignore[return-value]

    def config(name: str, store: str) -> AgentConfig:
        return AgentConfig(ref=AgentRef("test", "host", f"{unique_id}-{name}"),
                           card=echo_card(), executor=EchoExecutor(),
                           connection=ConnectionSettings(url=broker.url),
                           task_store_url=store)

    stuck = config("stuck", f"sqlite:///{tmp_path}/ok.db")
    failing = config("failing", f"sqlite:///{tmp_path}/missing/dir/agent.db")
    host = AgentHost([stuck, failing], transport_factory=factory)
    with pytest.raises(StoreError):
        await asyncio.wait_for(host.start(), 30)
    # No agent start is left behind, to CONNECT and serve later on its own.
    left = [t for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "BaseServer.start"]
    assert not left, left


def test_a_start_cancelled_while_its_store_opens_leaves_no_thread_behind(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel at any moment of a SQLite store's opening: nothing of it runs on after
    the start returns (seen in CI: an aiosqlite thread finishing after the test's event
    loop closed, then failing). Each start runs in an event loop of its own, closed as
    soon as the cancelled start returns, at cancel points 0-6 ms into the start."""
    failures: list[str] = []
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: failures.append(f"{args.thread}: {args.exc_value!r}"))

    async def cancelled_start(delay: float, n: int) -> None:
        server = AgentServer(
            AgentConfig(ref=AgentRef("test", "host", f"{unique_id}-{n}"), card=echo_card(),
                        executor=EchoExecutor(), connection=ConnectionSettings(url=broker.url),
                        task_store_url=f"sqlite:///{tmp_path}/agent-{n}.db"),
            transport_factory=lambda o: _StuckConnect(  # type: ignore[arg-type,return-value]
                default_transport(o), asyncio.Event()))
        start = asyncio.create_task(server.start())
        await asyncio.sleep(delay)
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start

    before = set(threading.enumerate())
    for n in range(60):
        asyncio.run(cancelled_start(n * 0.0001, n))
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    assert failures == []
