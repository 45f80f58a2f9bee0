"""Answering a :class:`Query` from the index's secondary indexes (pure).

Strategy: intersect the key sets of every indexed filter (smallest first) and
the word index's sets for the free-text words; apply the scanning filters
(``name``, ``changed_since``) to what is left. Then, if many entries match,
walk the global order from the cursor and stop after a page; if few match,
pick the page's smallest keys directly. Both give the same page as
``sorted(k for k in entries if q.matches(entries[k]))`` sliced after the
cursor (the unit tests hold them equal).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from a2a_mqtt.registry.entry import Entry
from a2a_mqtt.registry.query import Query, encode_cursor

if TYPE_CHECKING:
    from a2a_mqtt.registry.index import RegistryIndex

__all__ = ["Page", "search"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query: entries in reference order, the total, the next cursor."""

    items: list[Entry]
    total: int
    next: str | None
    seq: int


def _candidate_sets(index: RegistryIndex, q: Query) -> list[set[str]] | None:
    idx = index.fields
    org_unit = (("scope", f"{q.org}/{q.unit}") if q.org is not None and q.unit is not None
                else ("org", q.org) if q.unit is None else ("unit", q.unit))
    wanted: list[tuple[str, str]] = [
        (f, v) for f, v in (org_unit, ("agent", q.agent), ("kind", q.kind),
                            ("status", q.status)) if v is not None]
    wanted += [("skill", s) for s in q.skills] + [("tag", t) for t in q.tags]
    wanted += [("input", m) for m in q.inputs] + [("output", m) for m in q.outputs]
    if not wanted and not q.words:
        return None
    sets = [idx[f].get(v) or set() for f, v in wanted]
    sets += [index.words.keys_with_prefix(w) for w in q.words]
    return sets


def search(index: RegistryIndex, q: Query) -> Page:
    """The page of entries matching ``q`` after ``q.after``, in reference order."""
    entries = index.entries
    predicate = q.name is not None or q.changed_since is not None
    sets = _candidate_sets(index, q)
    found: set[str] | None = None
    if sets is None:
        total = (len(entries) if not predicate
                 else sum(1 for e in entries.values() if q.matches(e)))
    else:
        sets.sort(key=len)
        found = sets[0].intersection(*sets[1:]) if len(sets) > 1 else sets[0]
        if predicate:
            found = {k for k in found if q.matches(entries[k])}
        total = len(found)
    if found is None or total * 8 > len(entries):
        # Many matches: walking the global order finds a page quickly.
        items = _walk(index, q, found, predicate and found is None)
    else:
        # Few matches: pick the page's smallest keys directly.
        after = q.after
        pool = found if after is None else (k for k in found if k > after)
        items = [entries[k] for k in heapq.nsmallest(q.limit + 1, pool)]
    more = len(items) > q.limit
    items = items[:q.limit]
    cursor = encode_cursor(items[-1].key) if more and items else None
    return Page(items=items, total=total, next=cursor, seq=index.seq)


def _walk(index: RegistryIndex, q: Query, keys: set[str] | None, check: bool) -> list[Entry]:
    """Scan the global order from the cursor, keeping keys in ``keys`` (if given) and
    entries passing ``q.matches`` (if ``check``)."""
    order, entries = index.order.view(), index.entries
    i = bisect_right(order, q.after) if q.after is not None else 0
    out: list[Entry] = []
    want = q.limit + 1
    for key in order[i:] if i else order:
        entry = entries.get(key)
        if entry is None or (keys is not None and key not in keys):
            continue
        if check and not q.matches(entry):
            continue
        out.append(entry)
        if len(out) == want:
            break
    return out
