"""Worker processes: the same agents served by N processes of one host.

``serve_agents(configs, workers=N)`` forks N workers from a supervising parent.
Each worker runs every agent with ``AgentConfig.worker`` set, so it connects as
``<client id>.wK`` and races the other workers for each request of the agent's
own topic through claims in the shared store (the claim dispatch pools use:
Mosquitto 2.0 never delivers ``$`` topics to ``$share`` subscriptions). Hence the
pools' store rule: a ``memory://`` store is refused, processes do not share it.

The parent starts the workers, forwards SIGTERM/SIGINT as SIGTERM, restarts a
worker that dies (with backoff), and raises :class:`WorkerError` when every worker
keeps failing. Forking (not spawning) keeps executors unpickled; the parent runs
no agent of its own, so nothing but the supervisor lives in the forked image.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import TracebackType

from a2a_mqtt.errors import ConfigError, WorkerError
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.service import serve_until_stopped

__all__ = ["WorkerSupervisor"]

log = logging.getLogger("a2a_mqtt.server")

_READY = b"r"
_QUICK_EXIT = 10.0
"""A worker that dies sooner than this after its start counts as failing again."""


def _worker_main(configs: Sequence[AgentConfig], index: int, ready_fd: int,
                 observability: ObservabilityConfig) -> None:
    """The body of worker ``index`` (a forked child)."""
    # The parent's signal wake-up fd and handlers came along with the fork.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches us via the parent
    from a2a_mqtt._loop import run as run_loop  # noqa: PLC0415
    from a2a_mqtt.server.host import AgentHost  # noqa: PLC0415 - host imports this module

    mine = [dataclasses.replace(c, worker=index) for c in configs]

    def ready() -> None:
        os.write(ready_fd, _READY)
        os.close(ready_fd)

    run_loop(AgentHost(mine, observability=observability).serve(on_ready=ready))


@dataclasses.dataclass(eq=False)
class _Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    failures: int = 0
    given_up: bool = False
    ready: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    exited: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class WorkerSupervisor:
    """N forked processes serving the same agents; see the module docstring."""

    def __init__(self, configs: Sequence[AgentConfig], *, workers: int,
                 observability: ObservabilityConfig | None = None,
                 backoff: float = 0.5, max_backoff: float = 10.0, max_failures: int = 5,
                 stop_grace: float | None = None) -> None:
        if workers < 1:
            raise ConfigError("workers must be >= 1")
        self.configs = [dataclasses.replace(c, worker=0) for c in configs]  # validates stores
        self.workers = workers
        # One /metrics port cannot be bound by N processes: workers serve none.
        self.observability = dataclasses.replace(observability or ObservabilityConfig(),
                                                 http_port=None)
        self.backoff, self.max_backoff, self.max_failures = backoff, max_backoff, max_failures
        self.stop_grace = stop_grace if stop_grace is not None else (
            max((c.shutdown_grace for c in self.configs), default=10.0) + 5.0)
        self._slots = [_Slot(i) for i in range(workers)]
        self._stopping = False
        self._stop: asyncio.Event | None = None
        self._restarts: set[asyncio.Task[None]] = set()
        self.failed = False

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [s.process.pid for s in self._slots
                if s.process is not None and s.process.pid is not None and not s.exited.is_set()]

    def _start(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        slot.ready.clear()
        slot.exited.clear()
        process = multiprocessing.get_context("fork").Process(
            target=_worker_main, args=(self.configs, slot.index, write_fd, self.observability),
            name=f"a2a-mqtt-worker-{slot.index}")
        process.start()
        os.close(write_fd)
        slot.process, slot.started = process, loop.time()

        pipe_open = [True]

        def close_pipe() -> None:
            if pipe_open[0]:
                pipe_open[0] = False
                loop.remove_reader(read_fd)
                os.close(read_fd)

        def on_ready() -> None:
            data = os.read(read_fd, 1)  # b"" when the worker died first
            close_pipe()
            if data == _READY:
                slot.failures = 0
                slot.ready.set()

        def on_exit() -> None:
            loop.remove_reader(process.sentinel)
            process.join(0)
            slot.exited.set()
            close_pipe()
            if not self._stopping:
                self._failed(slot, process.exitcode)

        loop.add_reader(read_fd, on_ready)
        loop.add_reader(process.sentinel, on_exit)

    def _failed(self, slot: _Slot, code: int | None) -> None:
        quick = asyncio.get_running_loop().time() - slot.started < _QUICK_EXIT
        slot.failures = slot.failures + 1 if quick or not slot.ready.is_set() else 1
        if slot.failures > self.max_failures:
            log.error("worker %d failed %d times in a row (exit %s); giving up on it",
                      slot.index, slot.failures, code)
            slot.given_up = True
            slot.ready.set()  # nobody waits for it any longer
            if all(s.given_up for s in self._slots):
                self.failed = True
                if self._stop is not None:
                    self._stop.set()
            return
        delay = min(self.backoff * 2 ** (slot.failures - 1), self.max_backoff)
        log.warning("worker %d exited (code %s); restarting it in %.1fs", slot.index, code, delay)

        async def restart() -> None:
            await asyncio.sleep(delay)
            if not self._stopping:
                self._start(slot)

        task = asyncio.create_task(restart(), name=f"a2a-mqtt-workers.restart-{slot.index}")
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def __aenter__(self) -> WorkerSupervisor:
        self._stopping = False
        for slot in self._slots:
            self._start(slot)
        await asyncio.gather(*(s.ready.wait() for s in self._slots))
        if all(s.given_up for s in self._slots):
            await self._stop_all()
            raise WorkerError(f"all {self.workers} workers failed to start")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stop_all()

    async def _stop_all(self) -> None:
        self._stopping = True
        for task in list(self._restarts):
            task.cancel()
        live = [s for s in self._slots if s.process is not None and not s.exited.is_set()]
        for slot in live:
            assert slot.process is not None
            slot.process.terminate()  # SIGTERM: a graceful stop (card offline, drained)
        try:
            async with asyncio.timeout(self.stop_grace):
                await asyncio.gather(*(s.exited.wait() for s in live))
        except TimeoutError:
            for slot in live:
                if slot.process is not None and not slot.exited.is_set():
                    log.warning("worker %d did not stop in %.0fs; killing it",
                                slot.index, self.stop_grace)
                    slot.process.kill()
            await asyncio.gather(*(s.exited.wait() for s in live))

    async def serve(self, stop: asyncio.Event | None = None, *,
                    on_ready: Callable[[], None] | None = None) -> None:
        """Start the workers, run until ``stop`` or SIGINT/SIGTERM, stop them all;
        :class:`WorkerError` when every worker kept failing."""
        self._stop = stop or asyncio.Event()
        await serve_until_stopped(self, self._stop, on_ready=on_ready)
        if self.failed:
            raise WorkerError(f"all {self.workers} workers kept failing; see the log")
