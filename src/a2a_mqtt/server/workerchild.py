"""The forked side of worker processes (workers.py): what a worker is told, and its body.

A worker starts from a copy of the supervisor: it first undoes what it must not keep
(the supervisor's signal handling and its copies of the card sessions' sockets, so the
broker fires the wills when the supervisor dies, not when its last worker does), then
serves its agents on a new loop until SIGTERM, or until the supervisor's pipe reads EOF
(the supervisor is gone). It writes ``r`` and its metrics port on the ready pipe once
serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
from collections.abc import Sequence
from contextlib import suppress

from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.server.config import AgentConfig

__all__ = ["READY", "WorkerJob", "worker_main"]

log = logging.getLogger("a2a_mqtt.server")

READY = b"r"


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerJob:
    """What a forked worker is told."""

    configs: Sequence[AgentConfig]
    index: int
    ready_fd: int
    """Written once serving: ``r`` and the worker's metrics port (0: none)."""
    life_fd: int
    """EOF when the parent is gone."""
    inherited: Sequence[int]
    """The parent's descriptors this child must close (its card sessions, the pipe's
    write end)."""
    observability: ObservabilityConfig
    instance: str


def worker_main(job: WorkerJob) -> None:
    """The body of worker ``job.index`` (a forked child)."""
    # The parent's signal wake-up fd and handlers came along with the fork.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches us via the parent
    # Our copies of the parent's card sessions: the broker must see them end (and fire
    # the wills) when the parent dies, not when we do.
    for fd in job.inherited:
        with suppress(OSError):
            os.close(fd)
    from a2a_mqtt._loop import run as run_loop  # noqa: PLC0415
    from a2a_mqtt.server.host import AgentHost  # noqa: PLC0415 - host imports this module

    index, ready_fd, life_fd = job.index, job.ready_fd, job.life_fd
    mine = [dataclasses.replace(c, worker=index) for c in job.configs]
    host = AgentHost(mine, observability=job.observability, instance=job.instance)

    def ready() -> None:
        port = host.metrics_url.rpartition(":")[2] if host.metrics_url else "0"
        os.write(ready_fd, READY + port.encode())
        os.close(ready_fd)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def parent_gone() -> None:  # EOF: the parent died (it never writes)
            loop.remove_reader(life_fd)
            log.warning("worker %d: the supervising process is gone; stopping", index)
            stop.set()

        loop.add_reader(life_fd, parent_gone)
        await host.serve(stop, on_ready=ready)

    run_loop(main())
