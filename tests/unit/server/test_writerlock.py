"""The cross-process SQLite writer lock (server/writerlock.py)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import threading
import time
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


def test_a_waiter_runs_as_soon_as_the_holder_lets_go(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer")
    first, second = WriterLock(path), WriterLock(path)  # two open files: two holders
    order: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def holder() -> None:
        with first.held():
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    def waiter() -> None:
        with second.held():
            order.append("second in")

    held = threading.Thread(target=holder)
    held.start()
    assert inside.wait(5)
    waiting = threading.Thread(target=waiter)
    waiting.start()
    deadline = time.monotonic() + 5
    while second.waits == 0 and time.monotonic() < deadline:  # it found the lock held
        time.sleep(0.001)
    assert second.waits == 1
    assert order == ["first in"]
    release.set()
    held.join(5)
    waiting.join(5)
    assert order == ["first in", "first out", "second in"]
    assert first.waits == 0
    first.close()
    second.close()


def test_the_lock_is_let_go_when_the_body_fails(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer")
    lock, other = WriterLock(path), WriterLock(path)
    with pytest.raises(RuntimeError), lock.held():
        raise RuntimeError("the transaction failed")
    with other.held():  # free at once: no wait
        pass
    assert other.waits == 0
    lock.close()
    other.close()


def test_another_process_waits_for_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer")
    lock = WriterLock(path)
    code = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except BlockingIOError:\n    sys.exit(3)\n")

    with lock.held():  # held: the other process cannot take it
        assert subprocess.run([sys.executable, "-c", code, path], check=False).returncode == 3
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
