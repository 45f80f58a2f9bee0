"""The cross-process SQLite writer lock (server/writerlock.py)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Task, TaskState, TaskStatus

from a2a_mqtt.server.stores import open_task_store
from a2a_mqtt.server.writerlock import WriterLock, writer_lock_path

async_test = pytest.mark.asyncio


def test_lock_path_beside_the_file_none_in_memory() -> None:
    assert writer_lock_path("/x/agent.db") == "/x/agent.db-writer"
    assert writer_lock_path(None) is None
    assert writer_lock_path(":memory:") is None
    assert writer_lock_path("") is None


@async_test
async def test_a_waiter_runs_as_soon_as_the_holder_lets_go(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer")
    first, second = WriterLock(path), WriterLock(path)  # two open files: two holders
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with first.held():
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def waiter() -> None:
        async with second.held():
            order.append("second in")

    held = asyncio.create_task(holder())
    while not order:
        await asyncio.sleep(0)
    waiting = asyncio.create_task(waiter())
    while second.waits == 0:  # it found the lock held
        await asyncio.sleep(0.001)
    assert order == ["first in"]
    release.set()
    await asyncio.wait_for(asyncio.gather(held, waiting), 5)
    assert order == ["first in", "first out", "second in"]
    assert first.waits == 0
    first.close()
    second.close()


@async_test
async def test_a_cancelled_waiter_leaves_the_lock_free(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer")
    first, second, third = WriterLock(path), WriterLock(path), WriterLock(path)
    release = asyncio.Event()

    async def holder() -> None:
        async with first.held():
            await release.wait()

    async def waiter(lock: WriterLock) -> None:
        async with lock.held():
            pass

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(waiter(second))
    while second.waits == 0:
        await asyncio.sleep(0.001)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    release.set()
    await held
    # The cancelled waiter's thread took the lock after the holder, then let it go.
    await asyncio.wait_for(waiter(third), 5)
    for lock in (first, second, third):
        lock.close()


def test_another_process_waits_for_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer")
    lock = WriterLock(path)
    code = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except BlockingIOError:\n    sys.exit(3)\n")

    async def inside() -> int:
        async with lock.held():
            return subprocess.run([sys.executable, "-c", code, path], check=False).returncode

    assert asyncio.run(inside()) == 3  # held: the other process cannot take it
    assert subprocess.run([sys.executable, "-c", code, path], check=False).returncode == 0
    lock.close()
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # closed: nothing left held
    os.close(fd)


@async_test
async def test_the_sqlite_group_commit_writes_only_holding_the_lock(tmp_path: Path) -> None:
    """Another process holding the file's writer lock holds the store's commits back;
    they go through the moment it lets go (no busy-handler sleep in between)."""
    db = tmp_path / "agent.db"
    async with AsyncExitStack() as stack:
        opened = await open_task_store(f"sqlite:///{db}", stack)
        other = os.open(f"{db}-writer", os.O_RDWR | os.O_CREAT)  # as another process would
        fcntl.flock(other, fcntl.LOCK_EX)
        task = Task(id="t1", context_id="c1",
                    status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED))
        save = asyncio.create_task(opened.store.save(
            task, prev_version=TaskVersion.MISSING, context=ServerCallContext()))
        done, _ = await asyncio.wait({save}, timeout=0.3)
        assert not done  # waiting for the lock, not writing
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        await asyncio.wait_for(save, 5)
        stored = await opened.store.get("t1", ServerCallContext())
        assert stored is not None and stored.task.status.state == TaskState.TASK_STATE_COMPLETED
