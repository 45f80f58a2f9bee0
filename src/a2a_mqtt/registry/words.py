"""The free-text word index: which entries have a word starting with a prefix (pure).

Invariants:

* ``_tokens[w]`` holds exactly the keys of linked entries whose words include
  ``w``; ``_vocab`` lists every such word (sorted lazily, for prefix lookup);
* a key is either linked or waiting in ``_pending`` (``defer`` mode: the
  initial replay postpones linking to :meth:`WordIndex.link_pending`); lookups
  scan the waiting entries, so answers are exact in either state.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

from a2a_mqtt.registry._sorted import SortedKeys
from a2a_mqtt.registry.entry import Entry

__all__ = ["WordIndex"]


class WordIndex:
    """Word -> keys, with prefix lookup and optional deferred linking."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self._entries = entries
        self._tokens: dict[str, set[str]] = {}
        self._vocab = SortedKeys()
        self._pending: set[str] = set()
        self.defer = False
        """While true, :meth:`link` only notes the key; :meth:`link_pending` links it."""

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def link(self, entry: Entry) -> None:
        if self.defer:
            self._pending.add(entry.key)
            return
        self._add(entry.key, entry.derived.word_list())

    def unlink(self, entry: Entry) -> None:
        key = entry.key
        if key in self._pending:
            self._pending.discard(key)
            return
        tokens = self._tokens
        for token in entry.derived.word_list():
            keys = tokens[token]
            keys.discard(key)
            if not keys:
                del tokens[token]
                self._vocab.discard(token)

    def link_pending(self, limit: int) -> int:
        """Link up to ``limit`` waiting entries; return how many still wait."""
        pending, entries = self._pending, self._entries
        for _ in range(min(limit, len(pending))):
            key = pending.pop()
            self._add(key, entries[key].derived.word_list())
        return len(pending)

    def _add(self, key: str, words: list[str]) -> None:
        tokens = self._tokens
        for token in words:
            keys = tokens.get(token)
            if keys is None:
                tokens[token] = keys = set()
                self._vocab.add(token)
            keys.add(key)

    def keys_with_prefix(self, prefix: str) -> set[str]:
        """Keys of the entries with a word starting with ``prefix``; never mutate the result."""
        vocab, tokens = self._vocab.view(), self._tokens
        found: list[set[str]] = []
        i = bisect_left(vocab, prefix)
        while i < len(vocab) and vocab[i].startswith(prefix):
            keys = tokens.get(vocab[i])
            if keys is not None:
                found.append(keys)
            i += 1
        if self._pending:
            entries = self._entries
            found.append({k for k in self._pending
                          if entries[k].derived.has_word_prefix(prefix)})
        if len(found) == 1:
            return found[0]  # one word: its own set, no copy
        return set().union(*found)
