"""A supervisor's runs: leases renewed and taken over, one driver per owned run.

``RunOwnership`` is a part of :class:`~a2a_mqtt.workflows.supervisor.Supervisor`
(docs/workflows.md §4.3, §4.4): its lease loop renews the leases of the runs it
drives every ``lease_ttl / 3`` and claims runs whose lease lapsed (at once when
their owner's Last Will said it died); its poll reads, once per ``poll_interval``,
what other supervisors wrote to all its runs, and wakes their drivers; ``reserve``
keeps new runs under ``max_runs``; ``nudge`` wakes a run's driver, here or at its
owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from a2a_mqtt.workflows.driver import RunDriver
from a2a_mqtt.workflows.leases import Leases, ReplyTarget
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.runlog import reply_target
from a2a_mqtt.workflows.state import RunState
from a2a_mqtt.workflows.store import RunStore
from a2a_mqtt.workflows.supervisor_agents import StepAgents
from a2a_mqtt.workflows.supervisor_config import SupervisorConfig, presence_topic

__all__ = ["RunOwnership"]

log = logging.getLogger("a2a_mqtt.workflows")


class RunOwnership(StepAgents):
    """The runs a supervisor drives (state lives on the supervisor)."""

    config: SupervisorConfig
    store: RunStore
    leases: Leases
    workflows: dict[str, Workflow]
    dead: set[str]
    _tasks: set[asyncio.Task[None]]
    _scan: asyncio.Event
    _halt: asyncio.Event
    _room: asyncio.Condition
    _reserved: int

    async def _lease_loop(self) -> None:
        period = self.config.lease_ttl / 3
        while not self._stopping:
            try:
                owned = {run_id: d.epoch for run_id, (d, _) in self.drivers.items()}
                if owned:
                    for run_id in await self.leases.renew(owned):
                        self._drop(run_id)
                for run_id in await self.leases.claimable(self.workflows, self.dead):
                    if run_id in self.drivers:
                        continue
                    epoch = await self.leases.claim(run_id, self.dead)
                    if epoch is not None:
                        log.warning("supervisor %s took over run %s (epoch %d)",
                                    self.config.supervisor_id, run_id, epoch)
                        self.start_driver(run_id, epoch)
            except Exception:
                log.exception("lease maintenance failed; trying again")
            if self._stopping:
                break
            self._scan.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._scan.wait(), period)

    async def _poll_loop(self) -> None:
        """One read per ``poll_interval`` for every run driven here (not one per run):
        wake the drivers whose log grew or whose caller's stream moved (inputs and
        re-targets other supervisors wrote; nudges make the common case immediate),
        and those whose stream is behind (the broker did not take an item)."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), self.config.poll_interval)
            drivers = {run_id: d for run_id, (d, _) in self.drivers.items()}
            if self._stopping or not drivers:
                continue
            try:
                marks = await self.store.marks(list(drivers))
            except Exception:
                log.exception("reading the runs' logs failed; trying again")
                continue
            for row in marks:
                driver = drivers[row.run_id]
                if driver.behind(row.last, reply_target(row)):
                    driver.wake()

    async def reserve(self) -> None:
        """Wait until a new run fits under ``max_runs``, and hold that room."""
        async with self._room:
            await self._room.wait_for(
                lambda: len(self.drivers) + self._reserved < self.config.max_runs)
            self._reserved += 1

    def unreserve(self) -> None:
        self._reserved -= 1
        self.spawn(self._notify_room(), "room")

    async def _notify_room(self) -> None:
        async with self._room:
            self._room.notify_all()

    def start_driver(self, run_id: str, epoch: int, *, created: RunState | None = None,
                     target: ReplyTarget | None = None) -> None:
        """Drive ``run_id`` at ``epoch``; ``created``: a run we have just inserted (its
        state and stream target are known, so nothing is read back)."""
        driver = RunDriver(self, run_id, epoch)
        if created is not None:
            driver.adopt(created, target)
        task = asyncio.create_task(self._drive(driver), name=f"workflow-run-{run_id}")
        self.drivers[run_id] = (driver, task)

    async def _drive(self, driver: RunDriver) -> None:
        try:
            await driver.drive()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run %s: driver failed; its lease will lapse", driver.run_id)
        finally:
            entry = self.drivers.get(driver.run_id)
            if entry is not None and entry[0] is driver:
                del self.drivers[driver.run_id]
            if self.config.max_runs and not self._stopping:
                self.spawn(self._notify_room(), "room")

    def _drop(self, run_id: str) -> None:
        entry = self.drivers.pop(run_id, None)
        if entry is not None:
            log.warning("run %s: lease lost; stopping its driver", run_id)
            entry[1].cancel()

    async def nudge(self, run_id: str, owner: str) -> None:
        entry = self.drivers.get(run_id)
        if entry is not None:
            entry[0].wake()
        elif owner and self.transport is not None:
            with contextlib.suppress(Exception):
                await self.transport.publish(presence_topic(owner) + "/nudge",
                                             run_id.encode(), qos=0)

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        async def logged() -> None:
            try:
                await coro
            except Exception:
                log.exception("supervisor %s: %s failed", self.config.supervisor_id, what)

        task = asyncio.create_task(logged(), name=f"{self.config.supervisor_id}.{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
