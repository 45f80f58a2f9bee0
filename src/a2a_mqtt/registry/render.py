"""The JSON shapes the registry answers with, over HTTP, SSE and A2A (pure).

A card is sent as the exact bytes that are retained (they were validated as
a UTF-8 JSON object on ingest), spliced into the surrounding JSON without
decoding it again; :func:`entry_dict` decodes it for callers that need a value.

Fields under ``observed`` are this instance's own observations (change
sequence number and times); everything else is a function of what is retained
on the broker, so it is the same on every instance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from a2a_mqtt.registry.entry import Change, Entry, Rejection

__all__ = ["change_dict", "entry_dict", "entry_json", "iso", "page_json", "rejection_dict"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def iso(moment: float) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _summary(entry: Entry) -> dict[str, Any]:
    ref, derived = entry.ref, entry.derived
    return {
        "ref": entry.key, "org": ref.org, "unit": ref.unit,
        ("pool" if ref.pool else "agent"): ref.name, "kind": entry.kind,
        "name": derived.name, "status": entry.status, "statusSource": entry.source,
        "authoritative": entry.authoritative, "etag": entry.etag,
        "skills": list(derived.skills), "tags": list(derived.tags),
        "observed": {"seq": entry.seq, "changedAt": iso(entry.changed_at),
                     "statusSince": iso(entry.status_since)},
    } | ({"signature": entry.signature} if entry.signature is not None else {})


def entry_json(entry: Entry, *, card: bool = True) -> bytes:
    """One entry as compact JSON bytes; with ``card``, the retained card spliced in."""
    head = _dumps(_summary(entry)).encode()
    if not card:
        return head
    return head[:-1] + b',"card":' + entry.payload + b"}"


def entry_dict(entry: Entry, *, card: bool = True) -> dict[str, Any]:
    """One entry as a JSON value (the card decoded)."""
    out = _summary(entry)
    if card:
        out["card"] = json.loads(entry.payload)
    return out


def rejection_dict(rejection: Rejection) -> dict[str, Any]:
    return {
        "topic": rejection.topic, "ref": str(rejection.ref) if rejection.ref else None,
        "reasons": list(rejection.reasons), "size": rejection.size,
        "status": rejection.status, "statusSource": rejection.source, "etag": rejection.etag,
        "observed": {"seq": rejection.seq, "at": iso(rejection.at)},
    }


def change_dict(change: Change) -> dict[str, Any]:
    """A change feed event: the entry after it (before it, for ``removed``) or the rejection."""
    out: dict[str, Any] = {"seq": change.seq, "kind": change.kind, "at": iso(change.at),
                           "ref": str(change.ref) if change.ref is not None else None}
    if change.entry is not None:
        out["entry"] = entry_dict(change.entry)
    if change.rejection is not None:
        out["rejection"] = rejection_dict(change.rejection)
    return out


def page_json(items: list[Entry], *, total: int, next_cursor: str | None, event_id: str,
              card: bool) -> bytes:
    """A list answer: ``{"total", "next", "eventId", "items"}`` as JSON bytes."""
    head = _dumps({"total": total, "next": next_cursor, "eventId": event_id}).encode()
    body = b",".join(entry_json(e, card=card) for e in items)
    return head[:-1] + b',"items":[' + body + b"]}"
