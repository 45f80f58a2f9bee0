"""Registry queries: one value object, parsed from HTTP parameters, A2A data or text (pure).

Every filter narrows (they combine with AND; a repeated ``skill``, ``tag``,
``input`` or ``output`` requires all of its values). :meth:`Query.matches` is
the reference meaning of a query for one entry; the index answers the same
through its secondary indexes, and the unit tests hold the two equal.

Results are ordered by the agent reference text (code point order), so a
cursor -- the last reference of a page, opaque to clients -- continues a
listing exactly where it stopped, on any instance with the same cards.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from a2a_mqtt.binding.topics import is_valid_identifier
from a2a_mqtt.registry.entry import Change, Entry, tokenize
from a2a_mqtt.registry.errors import QueryError

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "PARAMETERS", "Query", "QueryError",
           "decode_cursor", "encode_cursor"]

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000
_MULTI: Final = ("skill", "tag", "input", "output")
_SINGLE: Final = ("org", "unit", "agent", "kind", "status", "q", "name", "changed_since",
                  "limit", "cursor", "card")
PARAMETERS: Final = frozenset(_MULTI + _SINGLE)
_STATUSES: Final = ("online", "offline", "unknown")
_KINDS: Final = ("agent", "pool")
_CURSOR_PREFIX: Final = "c1."


def encode_cursor(key: str) -> str:
    """The opaque cursor that continues a listing after ``key``."""
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The reference text a cursor continues after; QueryError if it is not one of ours."""
    if not cursor.startswith(_CURSOR_PREFIX):
        raise QueryError("cursor is not valid: pass the 'next' value of a previous page")
    body = cursor[len(_CURSOR_PREFIX):]
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_",
                               validate=True).decode()
    except (binascii.Error, ValueError):
        key = ""
    if not key:
        raise QueryError("cursor is not valid: pass the 'next' value of a previous page")
    return key


def _identifier(name: str, value: str) -> str:
    if not is_valid_identifier(value):
        raise QueryError(f"{name} {value!r} is not a valid identifier "
                         "(letters, digits, '_', '.', '-')")
    return value


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    folded = value.lower()
    if folded not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return folded


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise QueryError(f"limit must be an integer; got {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    return limit


def _timestamp(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError("changed_since must be seconds since the epoch or an ISO 8601 time "
                         f"with a zone (2026-01-31T12:00:00Z); got {value!r}") from None
    if moment.tzinfo is None:
        raise QueryError(f"changed_since needs a time zone (e.g. Z); got {value!r}")
    return moment.timestamp()


def _flag(value: str) -> bool:
    folded = value.lower()
    if folded in ("true", "1", "yes"):
        return True
    if folded in ("false", "0", "no"):
        return False
    raise QueryError(f"card must be true or false; got {value!r}")


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # protobuf Struct turns every number into a float
    if not isinstance(value, str | int | float):
        plural = " or a list of strings" if name in _MULTI else ""
        raise QueryError(f"{name} must be a string{plural}; got {type(value).__name__}")
    return str(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Query:
    """Filters, page size and position; ``None``/empty means "any"."""

    org: str | None = None
    unit: str | None = None
    agent: str | None = None
    kind: str | None = None
    status: str | None = None
    skills: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    """Lower-cased: tags match case-insensitively."""
    words: tuple[str, ...] = ()
    """Each must be a prefix of a word of the name, description or skill texts."""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    name: str | None = None
    """Case-insensitive substring of the card name."""
    changed_since: float | None = None
    limit: int = DEFAULT_LIMIT
    after: str | None = None
    """The reference text the page starts after (decoded from a cursor)."""
    card: bool = True
    """Include each card in the answer (false: only the summary)."""

    @classmethod
    def from_params(cls, items: Iterable[tuple[str, str]]) -> Query:
        """Parse HTTP query parameters; QueryError says which one is wrong and how."""
        multi: dict[str, list[str]] = {name: [] for name in _MULTI}
        single: dict[str, str] = {}
        for name, value in items:
            if name not in PARAMETERS:
                raise QueryError(f"unknown query parameter {name!r}; known: "
                                 f"{', '.join(sorted(PARAMETERS))}")
            if not value.strip():
                raise QueryError(f"query parameter {name!r} is empty")
            if name in multi:
                multi[name].append(value.strip())
            elif name in single:
                raise QueryError(f"query parameter {name!r} given more than once")
            else:
                single[name] = value.strip()
        return cls._build(single, multi)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Query:
        """Parse a JSON object (an A2A data part): the HTTP names, lists for repeatable ones."""
        items: list[tuple[str, str]] = []
        for name, value in data.items():
            values = value if isinstance(value, list) and name in _MULTI else [value]
            items.extend((str(name), _scalar(str(name), one)) for one in values)
        return cls.from_params(items)

    @classmethod
    def from_text(cls, text: str) -> Query:
        """Text such as ``tag:inspection status:online conveyor``.

        ``name:value`` words are filters; the other words are free text (``q``).
        """
        items: list[tuple[str, str]] = []
        words: list[str] = []
        for token in text.split():
            name, sep, value = token.partition(":")
            if sep and name in PARAMETERS and name != "q":
                items.append((name, value))
            else:
                words.append(token)
        if words:
            items.append(("q", " ".join(words)))
        return cls.from_params(items)

    @classmethod
    def _build(cls, single: dict[str, str], multi: dict[str, list[str]]) -> Query:
        words: tuple[str, ...] = ()
        if "q" in single:
            words = tuple(dict.fromkeys(tokenize(single["q"])))
            if not words:
                raise QueryError(f"q {single['q']!r} has no words to search for")
        return cls(
            org=_identifier("org", single["org"]) if "org" in single else None,
            unit=_identifier("unit", single["unit"]) if "unit" in single else None,
            agent=_identifier("agent", single["agent"]) if "agent" in single else None,
            kind=_choice("kind", single["kind"], _KINDS) if "kind" in single else None,
            status=(_choice("status", single["status"], _STATUSES)
                    if "status" in single else None),
            skills=tuple(dict.fromkeys(multi["skill"])),
            tags=tuple(dict.fromkeys(t.casefold() for t in multi["tag"])),
            words=words,
            inputs=tuple(dict.fromkeys(m.lower() for m in multi["input"])),
            outputs=tuple(dict.fromkeys(m.lower() for m in multi["output"])),
            name=single["name"].casefold() if "name" in single else None,
            changed_since=(_timestamp(single["changed_since"])
                           if "changed_since" in single else None),
            limit=_limit(single["limit"]) if "limit" in single else DEFAULT_LIMIT,
            after=decode_cursor(single["cursor"]) if "cursor" in single else None,
            card=_flag(single["card"]) if "card" in single else True,
        )

    def matches(self, entry: Entry) -> bool:
        """The reference meaning of the filters for one entry (position and limit aside)."""
        ref, derived = entry.ref, entry.derived
        return ((self.org is None or ref.org == self.org)
                and (self.unit is None or ref.unit == self.unit)
                and (self.agent is None or ref.name == self.agent)
                and (self.kind is None or entry.kind == self.kind)
                and (self.status is None or entry.status == self.status)
                and all(s in derived.skills for s in self.skills)
                and all(t in derived.tags for t in self.tags)
                and all(m in derived.inputs for m in self.inputs)
                and all(m in derived.outputs for m in self.outputs)
                and all(derived.has_word_prefix(w) for w in self.words)
                and (self.name is None or self.name in derived.name.casefold())
                and (self.changed_since is None or entry.changed_at >= self.changed_since))

    def matches_change(self, change: Change) -> bool:
        """True if the change concerns an entry matching the query, before or after it.

        A rejection matches when the query has no card-content filter and its
        org/unit/agent/kind filters accept the topic's reference.
        """
        if change.rejection is None:
            return any(e is not None and self.matches(e) for e in (change.entry, change.previous))
        if (self.status or self.skills or self.tags or self.words or self.inputs
                or self.outputs or self.name is not None):
            return False
        ref = change.rejection.ref
        if ref is None:
            return self.org is None and self.unit is None and self.agent is None and not self.kind
        return ((self.org is None or ref.org == self.org)
                and (self.unit is None or ref.unit == self.unit)
                and (self.agent is None or ref.name == self.agent)
                and (self.kind is None or self.kind == ("pool" if ref.pool else "agent")))
