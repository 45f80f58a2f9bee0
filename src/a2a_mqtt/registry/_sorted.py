"""A lazily sorted set of strings, cheap to grow one key at a time (pure).

Adding a key costs a set insertion; the sorted list is brought up to date
only when someone reads it: a few pending keys are inserted by bisection,
many at once trigger one sort. Removed keys stay in the list as tombstones
until they are a quarter of it. Readers must therefore skip keys that are no
longer live (the owner's dict or set is the truth).
"""

from __future__ import annotations

from bisect import insort

__all__ = ["SortedKeys"]


class SortedKeys:
    """Sorted strings with O(1) add/discard; :meth:`view` may contain dead keys."""

    __slots__ = ("_dead", "_listed", "_pending", "_sorted")

    def __init__(self) -> None:
        self._sorted: list[str] = []
        self._listed: set[str] = set()   # keys present in _sorted, live or dead
        self._pending: set[str] = set()  # live keys not yet in _sorted
        self._dead: set[str] = set()     # keys in _sorted that were discarded

    def add(self, key: str) -> None:
        if key in self._listed:
            self._dead.discard(key)
        else:
            self._pending.add(key)

    def discard(self, key: str) -> None:
        if key in self._listed:
            self._dead.add(key)
        else:
            self._pending.discard(key)

    def view(self) -> list[str]:
        """The sorted list (do not mutate); keys discarded since may still appear."""
        pending, size = self._pending, len(self._sorted)
        if len(self._dead) > 64 + size // 4 or len(pending) > 64 + size // 32:
            live = (self._listed - self._dead) | pending
            self._sorted = sorted(live)
            self._listed = live
            self._dead = set()
            self._pending = set()
        elif pending:
            for key in pending:
                insort(self._sorted, key)
            self._listed |= pending
            self._pending = set()
        return self._sorted
