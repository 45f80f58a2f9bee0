"""One ephemeral attempt inside a run: spawn the worker, call it, watch for its death.

The attempt was recorded (write-ahead) under the worker's reference before the
worker is launched. Its outcome reaches the run's inbox like any call's:
:class:`AttemptCompleted` from the stream, or :class:`AttemptFailed` when the worker
never comes up, dies (its Last Will: the offline card with
``a2a-status-source=lwt``) or exits without answering. A failure that arrives after
the step finished is dropped by the scheduler (it is about an attempt that is no
longer current), so this module may report every end it sees. Whatever happens,
the worker is reaped and its retained card cleared: a finished attempt leaves no
process and no card behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from a2a.utils.errors import A2AError

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.client.discovery import Watch
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.workflows.ephemeral import WorkerHandle, WorkerSpec
from a2a_mqtt.workflows.state import AttemptFailed, Parts

if TYPE_CHECKING:
    from a2a_mqtt.workflows.runner import _Run

__all__ = ["run_worker"]

log = logging.getLogger(__name__)

_REPLY_GRACE = 3.0  # seconds a reply (or the will) may trail the worker's exit
_REAP_GRACE = 5.0   # seconds a worker gets to exit on its own before it is killed


async def run_worker(run: _Run, *, step: str, task_id: str, ref: AgentRef, spawn: str,
                     parts: Parts) -> None:
    runner = run.runner
    mqtt = runner.client

    def fail(reason: str) -> None:
        run.inbox.put_nowait(AttemptFailed(step, task_id, reason, run.now()))

    if runner.launcher is None:
        fail("no launcher for ephemeral steps: give WorkflowRunner(launcher=...)")
        return
    spec = WorkerSpec.for_connection(mqtt.requester.config.connection, ref=ref, agent=spawn,
                                     idle_timeout=max(runner.spawn_timeout, 10.0))
    # Watch before launching, so neither the card nor the will can slip past.
    async with mqtt.discovery.watch(include_existing=False) as watch:
        try:
            handle = await runner.launcher.launch(spec)
        except (OSError, A2AMqttError) as exc:
            fail(f"could not start a worker for {spawn}: {exc}")
            return
        try:
            await _attempt(run, step=step, task_id=task_id, ref=ref, parts=parts,
                           handle=handle, watch=watch, fail=fail)
        finally:
            await _reap(handle)
            await _forget(run, ref)


async def _attempt(run: _Run, *, step: str, task_id: str, ref: AgentRef, parts: Parts,
                   handle: WorkerHandle, watch: Watch, fail: Callable[[str], None]) -> None:
    mqtt = run.runner.client
    died = asyncio.create_task(_last_will(watch, ref), name=f"worker-will-{ref.name}")
    exited = asyncio.create_task(handle.wait(), name=f"worker-exit-{ref.name}")
    ready = asyncio.create_task(mqtt.resolve(ref, timeout=run.runner.spawn_timeout),
                                name=f"worker-card-{ref.name}")
    try:
        await asyncio.wait({died, exited, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done() or ready.exception() is not None:
            ready.cancel()
            await _settle(died, exited, served=False)
            fail(_death(ref, handle, died, exited, "before serving")
                 if died.done() or exited.done()
                 else f"worker {ref} ({handle.ident}) published no card within "
                      f"{run.runner.spawn_timeout:g} s")
            return
        try:
            client = mqtt.client_for(ready.result())
        except (A2AMqttError, A2AError) as exc:
            fail(f"worker {ref}: {exc}")
            return
        run.clients[task_id] = client
        run.start_call(step, task_id, client, parts)
        await asyncio.wait({died, exited}, return_when=asyncio.FIRST_COMPLETED)
        call = run.calls.get(task_id)
        if exited.done() and not died.done() and call is not None:
            # A worker that finished exits right after its reply: let the reply land.
            await asyncio.wait({call, died}, timeout=_REPLY_GRACE,
                               return_when=asyncio.FIRST_COMPLETED)
        call = run.calls.get(task_id)
        if call is not None and not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
        await _settle(died, exited, served=True)
        fail(_death(ref, handle, died, exited, "during the step"))
    finally:
        for task in (died, exited, ready):
            task.cancel()
        await asyncio.gather(died, exited, ready, return_exceptions=True)


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


async def _forget(run: _Run, ref: AgentRef) -> None:
    """Clear the worker's retained card; it served one attempt and will not return."""
    try:
        await run.runner.client.requester.transport.publish(
            discovery_topic(ref), b"", qos=1, retain=True)
    except (A2AMqttError, OSError) as exc:
        log.info("clearing the card of worker %s: %s", ref, exc)
