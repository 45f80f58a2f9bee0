"""Following a task's stream to its end: no idle death while the agent lives.

A stream may be silent for as long as the task runs (an LLM thinking, a long
job). Silence is judged by the agent, not by a clock: its retained card going
offline (or away) ends the wait at once, and after ``probe_interval`` seconds
of silence a GetTask asks whether the task still runs; a terminal answer ends
the stream (its last events were lost), an error fails it. ``idle_timeout`` is
the old clock, opt-in only. On a terminal, a one-line progress display ticks
through the silence; piped output only ever gets whole event lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types.a2a_pb2 import StreamResponse, Task, TaskState
from a2a.utils.errors import A2AError

from a2a_mqtt.binding.codes import ResponderUnavailableError
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.common import one_line
from a2a_mqtt.client.discovery import Discovery, DiscoveryEvent, Watch

__all__ = ["TERMINAL", "UNSUCCESSFUL", "FollowOptions", "Progress", "follow",
           "progress_line", "state_of"]

TERMINAL = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                      TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})
#: The terminal states a command reports with a non-zero exit: the task did not do its job.
UNSUCCESSFUL = TERMINAL - {TaskState.TASK_STATE_COMPLETED}


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowOptions:
    #: Seconds of silence before a GetTask liveness probe (None: never probe).
    probe_interval: float | None = 30.0
    #: Seconds of silence that fail the stream (None: wait as long as the agent lives).
    idle_timeout: float | None = None


def progress_line(state: str, silent_for: float, events: int) -> str:
    """The transient status line shown on a terminal while a stream is silent."""
    return f"… {state or 'waiting'}: {events} event(s), silent for {silent_for:.0f}s"


class Progress:
    """A one-line display rewritten in place; only on a terminal."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled and self.stream.isatty()
        self._shown = False

    def show(self, line: str) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False


async def _gone(watch: Watch, ref: AgentRef) -> DiscoveryEvent:
    async for event in watch:
        # The first events replay the current entries: an agent already offline counts.
        if event.entry.ref == ref and (event.kind == "removed" or not event.entry.online):
            return event
    raise AssertionError("discovery watch ended")  # pragma: no cover - closed after us


def state_of(event: StreamResponse) -> int:
    """The task state an event reports (0, unspecified, for messages and artifacts)."""
    kind = event.WhichOneof("payload")
    if kind == "task":
        return int(event.task.status.state)
    if kind == "status_update":
        return int(event.status_update.status.state)
    return 0


def _name(state: int) -> str:
    return TaskState.Name(state).removeprefix("TASK_STATE_") if state else ""


async def follow(events: AsyncIterator[StreamResponse], *, agent: AgentRef,
                 show: Callable[[StreamResponse], None], options: FollowOptions,
                 discovery: Discovery | None = None,
                 probe: Callable[[], Awaitable[Task]] | None = None,
                 progress: Progress | None = None) -> int:
    """Print every event of ``events`` until it ends, watching ``agent`` meanwhile;
    return the last task state seen (0 if none, e.g. a reply that is a message).

    ``discovery`` (started, covering ``agent``) gives presence; ``probe`` is the
    GetTask liveness probe.
    """
    loop = asyncio.get_running_loop()
    progress = progress or Progress()
    nxt: asyncio.Future[Any] = asyncio.ensure_future(anext(events))
    # Registered now, not when the task first runs: no change in between is missed.
    watch = discovery.watch(include_existing=True) if discovery is not None else None
    gone = (asyncio.create_task(_gone(watch, agent), name="cli-follow-presence")
            if watch is not None else None)
    last_event = last_check = started = loop.time()
    count, state = 0, 0
    try:
        while True:
            now = loop.time()
            deadlines = []
            if options.probe_interval and probe is not None:
                deadlines.append(max(last_event, last_check) + options.probe_interval)
            if options.idle_timeout is not None:
                deadlines.append(last_event + options.idle_timeout)
            if progress.enabled:
                deadlines.append(now + 1.0)
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            waits: set[asyncio.Future[Any]] = {nxt} if gone is None else {nxt, gone}
            done, _ = await asyncio.wait(waits, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            now = loop.time()
            if nxt in done:
                try:
                    event = nxt.result()
                except StopAsyncIteration:
                    return state
                progress.clear()
                show(event)
                count += 1
                state = state_of(event) or state
                last_event = now
                nxt = asyncio.ensure_future(anext(events))
                continue
            if gone is not None and gone in done:
                ev = gone.result()
                raise ResponderUnavailableError(
                    f"{agent} is {'gone' if ev.kind == 'removed' else 'offline'} "
                    f"(its card says so): no more events will come")
            if options.idle_timeout is not None and now - last_event >= options.idle_timeout:
                raise A2AClientTimeoutError(
                    f"no event from {agent} for {options.idle_timeout:g}s (--idle-timeout)")
            if (probe is not None and options.probe_interval
                    and now - max(last_event, last_check) >= options.probe_interval):
                last_check = now
                try:
                    task = await probe()
                except (A2AError, TimeoutError) as exc:
                    raise A2AClientError(f"{agent} did not answer a liveness probe (GetTask) "
                                         f"after {now - last_event:.0f}s of silence: "
                                         f"{one_line(exc)}") from exc
                if task.status.state in TERMINAL:
                    progress.clear()
                    show(StreamResponse(task=task))
                    return int(task.status.state)
            progress.show(progress_line(_name(state), now - max(last_event, started), count))
    finally:
        progress.clear()
        for fut in (nxt, gone):
            if fut is not None and not fut.done():
                fut.cancel()
                with contextlib.suppress(BaseException):
                    await fut
        if watch is not None:
            await watch.aclose()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()
