"""The registry's in-memory index of retained cards (pure, synchronous).

:meth:`RegistryIndex.apply` takes what arrived on one discovery topic (the
payload and the ``a2a-status``/``a2a-status-source`` properties) and returns
the numbered :class:`Change` records it caused, if any. Everything else reads.

Invariants:

* the index is a function of the latest message per topic: the same retained
  messages give the same entries and rejections in any order of arrival, so a
  restarted or second instance answers the same (``seq`` and times aside);
* a topic is in ``entries`` (valid card) or ``rejected`` (invalid), never both;
  an empty payload removes it from both;
* every secondary index holds exactly the keys of the entries carrying that
  value, and ``words`` (``words.WordIndex``) the entries by search word;
* ``seq`` grows by one per change and is never reused by this instance;
* a message that changes nothing (same bytes, same status) yields no change.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from a2a_mqtt.binding.topics import AgentRef, discovery_topic, parse_discovery_topic
from a2a_mqtt.registry._sorted import SortedKeys
from a2a_mqtt.registry.entry import Change, ChangeKind, Entry, Rejection, derive, etag_of
from a2a_mqtt.registry.query import Query, encode_cursor
from a2a_mqtt.registry.search import Page, search
from a2a_mqtt.registry.validate import Verdict, check_card, printable
from a2a_mqtt.registry.words import WordIndex

if TYPE_CHECKING:
    from a2a_mqtt.security.cards import CardPolicy

__all__ = ["Page", "RegistryIndex"]

_FIELDS: Final = ("org", "unit", "scope", "agent", "kind", "status", "skill", "tag", "input",
                  "output")
_BAD_TOPIC: Final = ("the discovery topic does not name an agent: expected "
                     "$a2a/v1/discovery/ORG/UNIT/AGENT (or .../pool/POOL) with identifiers "
                     "of letters, digits, '_', '.', '-'")


def _index_values(entry: Entry) -> Iterator[tuple[str, str]]:
    ref, derived = entry.ref, entry.derived
    yield "org", ref.org
    yield "unit", ref.unit
    yield "scope", f"{ref.org}/{ref.unit}"
    yield "agent", ref.name
    yield "kind", entry.kind
    yield "status", entry.status
    for skill in derived.skills:
        yield "skill", skill
    for tag in derived.tags:
        yield "tag", tag
    for mode in derived.inputs:
        yield "input", mode
    for mode in derived.outputs:
        yield "output", mode


class RegistryIndex:
    """Entries by reference, rejected topics, secondary and word indexes."""

    def __init__(self, *, max_card_bytes: int = 256 * 1024,
                 card_policy: CardPolicy | None = None) -> None:
        self.max_card_bytes = max_card_bytes
        self.card_policy = card_policy if card_policy and card_policy.mode != "off" else None
        self.entries: dict[str, Entry] = {}
        self.rejected: dict[str, Rejection] = {}
        self.seq = 0
        self.messages = 0
        self.fields: dict[str, dict[str, set[str]]] = {f: {} for f in _FIELDS}
        """field -> value -> keys of the entries with that value (the secondary indexes)."""
        self.words = WordIndex(self.entries)
        self.order = SortedKeys()
        """Every key, sorted lazily (may list removed keys; ``entries`` is the truth)."""
        self._seen: set[str] | None = None

    # -- ingest -------------------------------------------------------------------

    def apply(self, topic: str, payload: bytes, status: str, source: str,
              now: float) -> list[Change]:
        """Take the message now on ``topic``; return the changes it made (often none)."""
        self.messages += 1
        if self._seen is not None:
            self._seen.add(topic)
        ref = parse_discovery_topic(topic)
        if ref is None:
            if not payload:
                self.rejected.pop(topic, None)
                return []
            return self._reject(topic, None, payload, status=status, source=source,
                                reasons=(_BAD_TOPIC,), now=now)
        key = str(ref)
        previous = self.entries.get(key)
        if not payload:
            self.rejected.pop(topic, None)
            if previous is None:
                return []
            self._remove(previous)
            return [self._change("removed", now, entry=previous)]
        if previous is not None and previous.payload == payload:
            if previous.status == status and previous.source == source:
                return []  # a refresh that changes nothing is not news
            entry = self._restatus(previous, status=status, source=source, now=now)
            self._replace(previous, entry)
            return [self._change(self._kind(previous, entry), now, entry=entry,
                                 previous=previous)]
        try:
            verdict = check_card(ref, payload, max_bytes=self.max_card_bytes)
            derived = derive(verdict.data) if verdict.data is not None else None
        except Exception as exc:  # a defect here must not let a bad card through or stop us
            verdict = Verdict(None, (printable(
                f"card could not be checked: {type(exc).__name__}: {exc}")[:300],))
            derived = None
        if verdict.data is None or derived is None:
            changes = []
            if previous is not None:
                self._remove(previous)
                changes.append(self._change("removed", now, entry=previous))
            return changes + self._reject(topic, ref, payload, status=status, source=source,
                                          reasons=verdict.reasons, now=now)
        signature = None
        if self.card_policy is not None:
            check = self.card_policy.check(verdict.data)
            if not check.verified and self.card_policy.mode == "require":
                changes = []
                if previous is not None:
                    self._remove(previous)
                    changes.append(self._change("removed", now, entry=previous))
                return changes + self._reject(
                    topic, ref, payload, status=status, source=source, now=now,
                    reasons=tuple(f"signature: {r}" for r in check.reasons))
            signature = ({"verified": True, "kid": check.kid} if check.verified
                         else {"verified": False, "reasons": list(check.reasons)})
        self.rejected.pop(topic, None)
        entry = Entry(key=key, ref=ref, payload=payload, status=status, source=source,
                      derived=derived, seq=self.seq + 1, changed_at=now,
                      status_since=(previous.status_since if previous is not None
                                    and previous.status == status else now),
                      signature=signature)
        if previous is None:
            self._add(entry)
            return [self._change("added", now, entry=entry)]
        self._replace(previous, entry)
        return [self._change(self._kind(previous, entry), now, entry=entry, previous=previous)]

    def begin_sweep(self) -> None:
        """Start noting which topics are (re)delivered: a new session's retained replay."""
        self._seen = set()

    def cancel_sweep(self) -> None:
        """Stop noting deliveries without dropping anything."""
        self._seen = None

    def end_sweep(self, now: float) -> list[Change]:
        """Drop what the replay since :meth:`begin_sweep` did not deliver (deleted meanwhile)."""
        seen, self._seen = self._seen, None
        if seen is None:
            return []
        changes = []
        for entry in [e for e in self.entries.values() if discovery_topic(e.ref) not in seen]:
            self._remove(entry)
            changes.append(self._change("removed", now, entry=entry))
        for topic in [t for t in self.rejected if t not in seen]:
            del self.rejected[topic]
        return changes

    def _restatus(self, previous: Entry, *, status: str, source: str, now: float) -> Entry:
        return Entry(key=previous.key, ref=previous.ref, payload=previous.payload, status=status,
                     source=source, derived=previous.derived, seq=self.seq + 1, changed_at=now,
                     status_since=previous.status_since if previous.status == status else now,
                     signature=previous.signature)

    @staticmethod
    def _kind(previous: Entry, entry: Entry) -> ChangeKind:
        if previous.status != entry.status and entry.status in ("online", "offline"):
            return "online" if entry.status == "online" else "offline"
        return "updated"

    def _reject(self, topic: str, ref: AgentRef | None, payload: bytes, *, status: str,
                source: str, reasons: tuple[str, ...], now: float) -> list[Change]:
        etag = etag_of(payload, status, source)
        known = self.rejected.get(topic)
        if known is not None and known.etag == etag:
            return []
        rejection = Rejection(topic=topic, ref=ref, reasons=reasons, size=len(payload),
                              status=status, source=source, etag=etag, seq=self.seq + 1,
                              at=now)
        self.rejected[topic] = rejection
        return [self._change("rejected", now, rejection=rejection)]

    def _change(self, kind: ChangeKind, now: float, *, entry: Entry | None = None,
                rejection: Rejection | None = None, previous: Entry | None = None) -> Change:
        self.seq += 1
        return Change(seq=self.seq, kind=kind, at=now, entry=entry, rejection=rejection,
                      previous=previous)

    def _add(self, entry: Entry) -> None:
        self.entries[entry.key] = entry
        self.order.add(entry.key)
        self._link(entry)

    def _remove(self, entry: Entry) -> None:
        del self.entries[entry.key]
        self.order.discard(entry.key)
        self._unlink(entry)

    def _replace(self, previous: Entry, entry: Entry) -> None:
        self.entries[entry.key] = entry
        if previous.derived is entry.derived:
            if previous.status != entry.status:
                self._discard("status", previous.status, previous.key)
                self.fields["status"].setdefault(entry.status, set()).add(entry.key)
            return
        self._unlink(previous)
        self._link(entry)

    def _link(self, entry: Entry) -> None:
        # Unrolled _index_values: this runs once per card of the initial replay.
        key, idx, ref, derived = entry.key, self.fields, entry.ref, entry.derived
        idx["org"].setdefault(ref.org, set()).add(key)
        idx["unit"].setdefault(ref.unit, set()).add(key)
        idx["scope"].setdefault(f"{ref.org}/{ref.unit}", set()).add(key)
        idx["agent"].setdefault(ref.name, set()).add(key)
        idx["kind"].setdefault(entry.kind, set()).add(key)
        idx["status"].setdefault(entry.status, set()).add(key)
        for field, values in (("skill", derived.skills), ("tag", derived.tags),
                              ("input", derived.inputs), ("output", derived.outputs)):
            index = idx[field]
            for value in values:
                index.setdefault(value, set()).add(key)
        self.words.link(entry)

    def _unlink(self, entry: Entry) -> None:
        for field, value in _index_values(entry):
            self._discard(field, value, entry.key)
        self.words.unlink(entry)

    @property
    def defer_words(self) -> bool:
        """While true (the initial replay), search words are linked later by
        :meth:`link_words`; free-text queries stay exact meanwhile."""
        return self.words.defer

    @defer_words.setter
    def defer_words(self, value: bool) -> None:
        self.words.defer = value

    def link_words(self, limit: int = 5000) -> int:
        """Link the words of up to ``limit`` deferred entries; return how many still wait."""
        return self.words.link_pending(limit)

    def _discard(self, field: str, value: str, key: str) -> None:
        values = self.fields[field]
        keys = values[value]
        keys.discard(key)
        if not keys:
            del values[value]

    # -- reading ------------------------------------------------------------------

    def get(self, ref: AgentRef | str) -> Entry | None:
        return self.entries.get(str(ref))

    def offline_since_before(self, cutoff: float) -> list[Entry]:
        """Entries offline since before ``cutoff`` (as observed by this instance)."""
        offline = self.fields["status"].get("offline", ())
        return sorted((self.entries[k] for k in offline
                       if self.entries[k].status_since < cutoff), key=lambda e: e.key)

    def query(self, q: Query) -> Page:
        """The page of entries matching ``q`` after ``q.after``, in reference order."""
        return search(self, q)

    def rejections(self, *, org: str | None = None, unit: str | None = None,
                   after: str | None = None, limit: int = 50
                   ) -> tuple[list[Rejection], int, str | None]:
        """Rejected topics in topic order: one page, the total, the next cursor."""
        found = sorted(
            (r for r in self.rejected.values()
             if (org is None or (r.ref is not None and r.ref.org == org))
             and (unit is None or (r.ref is not None and r.ref.unit == unit))),
            key=lambda r: r.topic)
        start = bisect_right([r.topic for r in found], after) if after is not None else 0
        page = found[start:start + limit]
        more = start + limit < len(found)
        return page, len(found), encode_cursor(page[-1].topic) if more and page else None

    def stats(self) -> dict[str, int]:
        """Counts: agents, pools, by status, rejected, distinct orgs/units/skills/tags."""
        idx = self.fields
        return {
            "entries": len(self.entries),
            "agents": len(idx["kind"].get("agent", ())),
            "pools": len(idx["kind"].get("pool", ())),
            "online": len(idx["status"].get("online", ())),
            "offline": len(idx["status"].get("offline", ())),
            "unknown": len(idx["status"].get("unknown", ())),
            "rejected": len(self.rejected),
            "orgs": len(idx["org"]),
            "units": len(idx["scope"]),
            "skills": len(idx["skill"]),
            "tags": len(idx["tag"]),
            "words": len(self.words),
            "wordsPending": self.words.pending,
            "seq": self.seq,
            "messages": self.messages,
        }
