"""Worker processes: the same agents served by N processes of one host.

``serve_agents(configs, workers=N)`` forks N workers from a supervising parent.
Each worker runs every agent with ``AgentConfig.worker`` set: it connects as
``<client id>.wK`` (persistent session, no will) and takes its share of the
agent's requests (``worker_dispatch``): ``partition`` (every worker receives each
request and serves those whose Task.id, or for requests naming no task whose
Correlation Data, hashes to it: no database work, and each task stays with the one
worker that runs it as a lone agent would: ``AgentConfig.runs_tasks_alone``),
``claim`` (claims in the shared store, as pools do on Mosquitto, which never
delivers ``$`` topics to ``$share``) or ``shared`` (a ``$share`` subscription).
``auto`` probes once: ``shared`` where the broker supports it, else ``partition``.
The task store is shared (the pools' rule: ``memory://`` is refused).

The parent holds each agent's card and will under the agent's own Client ID
(presence.py): a worker that dies and is restarted never marks the card offline.
It forwards SIGTERM/SIGINT as SIGTERM, restarts a worker that dies (with backoff;
the new run recovers what the old one left in flight, like a restarted agent),
and raises :class:`WorkerError` when every worker keeps failing. Workers watch a
pipe to the parent and stop when it dies. With a metrics port, the parent serves
it for all workers (workermetrics.py). Forking (not spawning) keeps executors
unpickled; the parent runs no agent of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import socket
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from multiprocessing.process import BaseProcess

from a2a_mqtt.errors import ConfigError, WorkerError
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.server.config import WORKER_DISPATCHES, AgentConfig
from a2a_mqtt.server.pooling import probe_shared_dollar_topics
from a2a_mqtt.server.presence import AgentPresence
from a2a_mqtt.server.workerchild import READY, WorkerJob, worker_main
from a2a_mqtt.server.workermetrics import WorkersApp, WorkerView
from a2a_mqtt.service import BaseServer
from a2a_mqtt.transport.base import TransportFactory, default_transport

__all__ = ["WorkerSupervisor"]

log = logging.getLogger("a2a_mqtt.server")

_QUICK_EXIT = 10.0
"""A worker that dies sooner than this after its start counts as failing again."""


@dataclasses.dataclass(eq=False)
class _Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    failures: int = 0
    restarts: int = 0
    given_up: bool = False
    url: str = ""
    ready: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    exited: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def view(self) -> WorkerView:
        alive = self.process is not None and not self.exited.is_set()
        return WorkerView(index=self.index, alive=alive, ready=self.ready.is_set(),
                          restarts=self.restarts, url=self.url if alive else "")


class WorkerSupervisor(BaseServer):
    """N forked processes serving the same agents; see the module docstring.

    ``dispatch``: ``auto`` (default), ``partition``, ``claim`` or ``shared``.
    A :class:`~a2a_mqtt.service.BaseServer`: the start pushes each part's undo on the
    stack (the workers stop before the cards' sessions close, also after a failed
    start); the graceful part of a stop (cards offline, then the workers drained) is
    ``_drain``.
    """

    def __init__(self, configs: Sequence[AgentConfig], *, workers: int,
                 observability: ObservabilityConfig | None = None,
                 dispatch: str = "auto", transport_factory: TransportFactory | None = None,
                 backoff: float = 0.5, max_backoff: float = 10.0, max_failures: int = 5,
                 stop_grace: float | None = None) -> None:
        if workers < 1:
            raise ConfigError("workers must be >= 1")
        if dispatch != "auto" and dispatch not in WORKER_DISPATCHES:
            raise ConfigError(f"dispatch must be auto or one of {', '.join(WORKER_DISPATCHES)}")
        resolved = "partition" if dispatch == "auto" else dispatch
        self.configs = [dataclasses.replace(c, worker=0, worker_count=workers,  # validates
                                            worker_dispatch=resolved) for c in configs]
        self.dispatch = dispatch
        self.workers = workers
        self.observability = observability or ObservabilityConfig()
        # One port cannot be bound by N processes: each worker serves its own on a free
        # loopback port, and this process serves the asked one for all of them.
        self._worker_observability = dataclasses.replace(
            self.observability, http_host="127.0.0.1",
            http_port=0 if self.observability.http_port is not None else None)
        self._factory = transport_factory or default_transport
        self.backoff, self.max_backoff, self.max_failures = backoff, max_backoff, max_failures
        self.stop_grace = stop_grace if stop_grace is not None else (
            max((c.shutdown_grace for c in self.configs), default=10.0) + 5.0)
        self._slots = [_Slot(i) for i in range(workers)]
        self._stopping = False
        self._stop: asyncio.Event | None = None
        self._restarts: set[asyncio.Task[None]] = set()
        self._presence: AgentPresence | None = None
        self._life: tuple[int, int] | None = None
        self.metrics_url = ""
        """``http://host:port`` of the workers' one ``/metrics`` endpoint, when served."""
        self.failed = False

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [s.process.pid for s in self._slots
                if s.process is not None and s.process.pid is not None and not s.exited.is_set()]

    def _spawn(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        assert self._life is not None
        read_fd, write_fd = os.pipe()
        slot.ready.clear()
        slot.exited.clear()
        slot.url = ""
        inherited = [self._life[1], *(self._presence.fds() if self._presence else [])]
        instance = f"{socket.gethostname()}/{os.getpid()}/w{slot.index}"
        process = multiprocessing.get_context("fork").Process(
            target=worker_main, args=(WorkerJob(
                configs=self.configs, index=slot.index, ready_fd=write_fd,
                life_fd=self._life[0], inherited=inherited,
                observability=self._worker_observability, instance=instance),),
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
            data = os.read(read_fd, 64)  # b"" when the worker died first
            close_pipe()
            if data.startswith(READY):
                port = int(data[1:] or b"0")
                slot.url = f"http://127.0.0.1:{port}" if port else ""
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
            # Partitioned, the other workers never serve its share: fail the whole agent.
            partition = any(c.worker_dispatch == "partition" for c in self.configs)
            if partition or all(s.given_up for s in self._slots):
                self.failed = True
                if self._stop is not None:
                    self._stop.set()
            return
        delay = min(self.backoff * 2 ** (slot.failures - 1), self.max_backoff)
        log.warning("worker %d exited (code %s); restarting it in %.1fs", slot.index, code, delay)

        async def restart() -> None:
            await asyncio.sleep(delay)
            if not self._stopping:
                slot.restarts += 1
                self._spawn(slot)

        task = asyncio.create_task(restart(), name=f"a2a-mqtt-workers.restart-{slot.index}")
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _resolve_dispatch(self) -> None:
        """``auto``: ``shared`` where the broker delivers ``$`` topics to ``$share``
        (probed once per agent, as pools do), else ``partition``."""
        if self.dispatch != "auto" or self.workers == 1:
            return
        resolved = []
        for cfg in self.configs:
            options = cfg.connection.connect_options(client_id=cfg.ref.client_id)
            shared = await probe_shared_dollar_topics(
                options, cfg.ref, self._factory,
                instead="its workers will partition requests instead")
            resolved.append(dataclasses.replace(
                cfg, worker_dispatch="shared" if shared else "partition"))
        self.configs = resolved

    async def _start(self, stack: AsyncExitStack) -> None:
        self._stopping = False
        self.failed = False
        await self._resolve_dispatch()
        # Workers read EOF here when this process is gone (they hold no write end).
        life = os.pipe()
        self._life = life
        stack.callback(self._close_life)
        # The cards' sessions first: the wills are armed before any worker serves.
        stack.callback(self._forget_presence)  # once their sessions are closed
        self._presence = await stack.enter_async_context(AgentPresence(
            self.configs, transport_factory=self._factory))
        # Before the sessions close (LIFO), and also when the start fails from here on.
        stack.push_async_callback(self._stop_workers)
        for slot in self._slots:
            self._spawn(slot)
        await asyncio.gather(*(s.ready.wait() for s in self._slots))
        if self.failed or all(s.given_up for s in self._slots):
            raise WorkerError(f"{self.workers} workers failed to start")
        obs = self.observability
        if obs.http_port is not None:
            from a2a_mqtt.observability.http import ObservabilityServer  # noqa: PLC0415

            app = WorkersApp(views=lambda: [s.view() for s in self._slots],
                             presence_ready=lambda: self._presence is not None
                             and self._presence.connected,
                             metrics=obs.wanted(served=True))
            stack.push_async_callback(app.aclose)
            served = await stack.enter_async_context(ObservabilityServer(
                app, host=obs.http_host, port=obs.http_port, name="a2a-mqtt-workers.metrics"))
            self.metrics_url = served.url
        await self._presence.announce()

    def _close_life(self) -> None:
        life, self._life = self._life, None
        if life is not None:
            os.close(life[0])
            os.close(life[1])

    def _forget_presence(self) -> None:
        self._presence = None

    async def _drain(self) -> None:
        """Cards offline first, then the workers stopped (drained)."""
        self._stopping = True
        if self._presence is not None:
            await self._presence.withdraw()
        await self._stop_workers()

    async def _stop_workers(self) -> None:
        """SIGTERM to every live worker (a graceful stop), killed after ``stop_grace``;
        no restarts from now on. A second call finds none left."""
        self._stopping = True
        for task in list(self._restarts):
            task.cancel()
        live = [s for s in self._slots if s.process is not None and not s.exited.is_set()]
        for slot in live:
            assert slot.process is not None
            slot.process.terminate()
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
        :class:`WorkerError` when every worker kept failing (partition dispatch: when
        one did, since nobody else serves its share). The base's serve, plus the one way
        this server ends by itself: a worker given up on sets ``stop``."""
        self._stop = stop or asyncio.Event()
        await super().serve(self._stop, on_ready=on_ready)
        if self.failed:
            raise WorkerError(f"the workers of {self.workers} kept failing; see the log")
