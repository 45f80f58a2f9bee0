"""Ephemeral attempts of the in-process runner: a worker per attempt, watched until it ends.

:class:`WatchedWorkers` is the runner's :class:`~a2a_mqtt.workflows.launch.StepLauncher`
for steps with ``runner: ephemeral``: ``launch`` names a worker reference unique to
the attempt (the driver records the attempt under it, write-ahead) and starts the
worker through the runner's :class:`Launcher`; the driver calls it like any agent
once its card is up (``card``). A worker that never comes up within
``spawn_timeout``, dies (its Last Will: the offline card with
``a2a-status-source=lwt``) or exits without answering is reported through
``report_deaths`` with the reason, and the driver fails the attempt at once. A
report that arrives after the step finished is dropped by the scheduler (it is
about an attempt that is no longer current), so every end seen may be reported.
``finished`` (or ``aclose``) reaps the worker and clears its retained card: a
finished attempt leaves no process and no card behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.client.discovery import AgentEntry, Watch
from a2a_mqtt.errors import A2AMqttError, ConfigError, DiscoveryError
from a2a_mqtt.workflows.ephemeral import Launcher, WorkerHandle, WorkerSpec
from a2a_mqtt.workflows.ephemeral_launch import worker_ref
from a2a_mqtt.workflows.launch import DeathReport, LaunchRequest
from a2a_mqtt.workflows.model import Step

__all__ = ["WatchedWorkers"]

log = logging.getLogger(__name__)

_REPLY_GRACE = 3.0  # seconds a reply (or the will) may trail the worker's exit
_REAP_GRACE = 5.0   # seconds a worker gets to exit on its own before it is killed


class WatchedWorkers:
    """One worker per attempt of an ephemeral step, for :class:`WorkflowRunner`'s driver."""

    def __init__(self, *, mqtt: A2AMqttClient, launcher: Launcher | None,
                 scope: tuple[str, str], spawn_timeout: float) -> None:
        self.mqtt = mqtt
        self.launcher = launcher
        self.scope = scope
        self.spawn_timeout = spawn_timeout
        self._reports: list[DeathReport] = []
        self._cards: dict[str, asyncio.Future[AgentEntry]] = {}  # worker ref -> its card
        self._watchers: dict[str, asyncio.Task[None]] = {}      # task_id -> its worker

    def report_deaths(self, report: DeathReport) -> None:
        self._reports.append(report)

    def handles(self, step: Step) -> bool:
        return step.agent is not None and step.agent.spawn is not None

    async def launch(self, request: LaunchRequest) -> str:
        spawn = request.step.agent.spawn if request.step.agent is not None else None
        assert spawn is not None
        if self.launcher is None:
            raise ConfigError("no launcher for ephemeral steps: give WorkflowRunner(launcher=...)")
        ref = worker_ref(self.scope, request.step.name, request.task_id)
        self._cards[str(ref)] = asyncio.get_running_loop().create_future()
        # Started now, running once the attempt is on record (the driver awaits its write).
        self._watchers[request.task_id] = asyncio.create_task(
            self._run(self.launcher, request.task_id, ref, spawn),
            name=f"workflow-worker-{ref.name}")
        return str(ref)

    async def card(self, agent: str) -> AgentEntry | None:
        """Worker ``agent``'s card once it serves; None if ``agent`` is no worker of ours.

        Raises DiscoveryError when the worker ended first (its death was reported)."""
        future = self._cards.get(agent)
        return None if future is None else await asyncio.shield(future)

    async def finished(self, request: LaunchRequest, outcome: str) -> None:
        watcher = self._watchers.pop(request.task_id, None)
        if watcher is not None:  # its worker is reaped and its card cleared as it ends
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def aclose(self) -> None:
        """Reap every worker still running (the run is over)."""
        watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    async def _run(self, launcher: Launcher, task_id: str, ref: AgentRef, spawn: str) -> None:
        card = self._cards[str(ref)]
        spec = WorkerSpec.for_connection(self.mqtt.requester.config.connection, ref=ref,
                                         agent=spawn,
                                         idle_timeout=max(self.spawn_timeout, 10.0))
        reason = f"the attempt of worker {ref} is over"
        try:
            # Watch before launching, so neither the card nor the will can slip past.
            async with self.mqtt.discovery.watch(include_existing=False) as watch:
                try:
                    handle = await launcher.launch(spec)
                except (OSError, A2AMqttError) as exc:
                    reason = f"could not start a worker for {spawn}: {exc}"
                    await self._report(task_id, reason)
                    return
                try:
                    reason = await self._watch(ref, handle, watch, card)
                    await self._report(task_id, reason)
                finally:
                    await _reap(handle)
                    await self._forget(ref)
        finally:
            self._cards.pop(str(ref), None)
            if not card.done():
                card.set_exception(DiscoveryError(reason))
                card.exception()  # retrieved: nobody may be waiting for it

    async def _watch(self, ref: AgentRef, handle: WorkerHandle, watch: Watch,
                     card: asyncio.Future[AgentEntry]) -> str:
        """Until the worker ends (the attempt's ``finished`` cancels this first): why."""
        died = asyncio.create_task(_last_will(watch, ref), name=f"worker-will-{ref.name}")
        exited = asyncio.create_task(handle.wait(), name=f"worker-exit-{ref.name}")
        ready = asyncio.create_task(self.mqtt.resolve(ref, timeout=self.spawn_timeout),
                                    name=f"worker-card-{ref.name}")
        try:
            await asyncio.wait({died, exited, ready}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done() or ready.exception() is not None:
                ready.cancel()
                await _settle(died, exited, served=False)
                if died.done() or exited.done():
                    return _death(ref, handle, died, exited, "before serving")
                return (f"worker {ref} ({handle.ident}) published no card within "
                        f"{self.spawn_timeout:g} s")
            card.set_result(ready.result())
            await asyncio.wait({died, exited}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done() and not died.done():
                # A worker that finished exits right after its reply: let the reply land.
                await asyncio.wait({died}, timeout=_REPLY_GRACE)
            await _settle(died, exited, served=True)
            return _death(ref, handle, died, exited, "during the step")
        finally:
            for task in (died, exited, ready):
                task.cancel()
            await asyncio.gather(died, exited, ready, return_exceptions=True)

    async def _report(self, task_id: str, reason: str) -> None:
        for report in self._reports:
            try:
                await report(task_id, reason)
            except Exception:
                log.exception("reporting the end of the worker of %s failed", task_id)

    async def _forget(self, ref: AgentRef) -> None:
        """Clear the worker's retained card; it served one attempt and will not return."""
        try:
            await self.mqtt.requester.transport.publish(discovery_topic(ref), b"", qos=1,
                                                        retain=True)
        except (A2AMqttError, OSError) as exc:
            log.info("clearing the card of worker %s: %s", ref, exc)


async def _settle(died: asyncio.Task[None], exited: asyncio.Task[int], *,
                  served: bool) -> None:
    """After one sign of death, give the other a moment, so the reason names both: the
    exit status after a will; the will after a failed exit of a worker that was connected
    (a clean exit, or one before connecting, has no will to wait for)."""
    if died.done() and not exited.done():
        await asyncio.wait({exited}, timeout=_REPLY_GRACE)
    elif served and exited.done() and not died.done() and exited.result() != 0:
        await asyncio.wait({died}, timeout=_REPLY_GRACE)


def _death(ref: AgentRef, handle: WorkerHandle, died: asyncio.Task[None],
           exited: asyncio.Task[int], when: str) -> str:
    parts = [f"ephemeral worker {ref} ({handle.ident}) ended {when}"]
    if died.done() and not died.cancelled():
        parts.append("its Last Will fired")
    if exited.done() and not exited.cancelled() and exited.exception() is None:
        parts.append(f"exit status {exited.result()}")
    tail = handle.diagnostics().strip().splitlines()[-1:] if handle.diagnostics() else []
    return "; ".join(parts + [f"stderr: {line}" for line in tail])


async def _last_will(watch: Watch, ref: AgentRef) -> None:
    """Return when the broker publishes ``ref``'s Last Will (its offline card, source lwt)."""
    async for event in watch:
        entry = event.entry
        if entry.ref == ref and not entry.online and entry.status_source == "lwt":
            return


async def _reap(handle: WorkerHandle) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(handle.wait(), _REAP_GRACE)
    await handle.kill()
