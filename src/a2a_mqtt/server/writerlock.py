"""One writer at a time on a SQLite file, handed over at once between processes.

SQLite lets one connection write at a time; a connection that finds the write lock
taken calls its busy handler, which for ``PRAGMA busy_timeout`` *sleeps* 1, 2, 5, 10,
15, 20, 25 ... ms between tries (Python's sqlite3 offers no other handler). Two
processes committing back to back on one file (``--workers 2``, pool members on one
host) therefore lose most of their time asleep: profiled with py-spy, 96 % of the
group-commit thread's time inside SQLite was ``clock_nanosleep`` in that handler,
and the event loops sat idle waiting for it (docs/performance.md, ``--workers N``).

:class:`WriterLock` puts an ``flock`` on a file beside the database around each
write transaction of the group commit, taken on the writer's own thread
(sqlitewriter.py, never on the loop): a process that waits blocks in the kernel and
runs as soon as the holder lets go, so SQLite's own lock is free when its
transaction begins. Writers that do not take it (one-off statements after a failed
batch, cancels) still work: they wait in SQLite's busy handler as before, and never
wait on this lock, so there is no lock-order cycle.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["WriterLock", "writer_lock_path"]


def writer_lock_path(database: str | None) -> str | None:
    """The lock file for the SQLite database file ``database`` (an engine URL's
    ``database``), or None for an in-memory database (nothing to share)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writer"


class WriterLock:
    """An exclusive ``flock`` on ``path`` (created if missing), per process; one holder
    per process at a time (the group commit's writer thread). ``close`` when done."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self.waits = 0
        """Acquisitions that found the lock held (for tests and benchmarks)."""

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the body; block (this thread) while another process has it."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.waits += 1
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
