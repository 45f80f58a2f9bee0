"""The metrics process's pipe format (:mod:`.metricschild` writes, :mod:`.metricsproc` reads).

A frame is a 4-byte big-endian length, then that many bytes of body; a body's first
byte says what it is:

* ``J``: a control message, a JSON object with an ``op`` (:data:`OPS`): a new
  service's provider, an instrument, a histogram key, a snapshot of the sums and
  gauges, a request to render, push or drop. JSON, not pickle: whatever reaches the
  child is data, never code, and a float survives it exactly (``repr``);
* ``H``: histogram observations, the hot path: records of ``(key id, count)`` (two
  big-endian u32) each followed by ``count`` float64 in this machine's byte order
  (``array('d').tobytes()``: both ends are one machine), each key's observations in
  the order they were made.

The child answers a render or a drop with a frame of the same shape whose body
starts with ``0`` (done; then the Prometheus text, for a render) or ``1`` (failed;
then the reason).

Invariant: :func:`decode` and :func:`split` raise :class:`WireError` on anything
that is not a message of this format, and nothing else: a bad frame is reported
and skipped, never the end of the child.
"""

from __future__ import annotations

import json
import struct
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["HEADER", "MAX_FRAME", "OPS", "Batch", "Control", "WireError", "batch", "control",
           "decode", "reply", "split"]

HEADER: Final = struct.Struct(">I")
"""The length of the body that follows."""
_RECORD: Final = struct.Struct(">II")
"""A histogram record's key id and its count of float64."""
_FLOAT: Final = array("d").itemsize
MAX_FRAME: Final = 64 << 20
"""Bytes; a longer frame is no frame of ours (the stream cannot be trusted past it)."""
OPS: Final = frozenset({"new", "inst", "key", "snap", "render", "push", "drop"})


class WireError(ValueError):
    """Bytes that are not a frame or message of this format."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Control:
    """A ``J`` message: ``op`` and its fields."""

    op: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """An ``H`` message: each key id's observations, in order."""

    records: tuple[tuple[int, array[float]], ...]


def control(op: str, **fields: Any) -> bytes:
    body = b"J" + json.dumps({"op": op, **fields}, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def batch(records: Iterable[tuple[int, array[float]]]) -> bytes:
    parts = [b"H"]
    for key, values in records:
        parts += (_RECORD.pack(key, len(values)), values.tobytes())
    body = b"".join(parts)
    return HEADER.pack(len(body)) + body


def reply(ok: bool, body: bytes) -> bytes:
    data = (b"0" if ok else b"1") + body
    return HEADER.pack(len(data)) + data


def split(data: bytes) -> tuple[list[bytes], bytes]:
    """The whole frames' bodies at the start of ``data``, and the bytes left over."""
    bodies: list[bytes] = []
    at, end = 0, len(data)
    while end - at >= HEADER.size:
        (size,) = HEADER.unpack_from(data, at)
        if size > MAX_FRAME:
            raise WireError(f"a frame of {size} bytes (at most {MAX_FRAME})")
        if end - at - HEADER.size < size:
            break
        at += HEADER.size
        bodies.append(data[at:at + size])
        at += size
    return bodies, data[at:]


def decode(body: bytes) -> Control | Batch:
    """One frame's body as a message (:class:`WireError` if it is none)."""
    if not body:
        raise WireError("an empty frame")
    kind = body[:1]
    if kind == b"J":
        try:
            fields = json.loads(body[1:])
        except (UnicodeDecodeError, ValueError) as exc:
            raise WireError(f"a control message that is not JSON ({exc})") from None
        if not isinstance(fields, dict) or fields.get("op") not in OPS:
            raise WireError("a control message without a known op")
        op = fields.pop("op")
        return Control(op=op, fields=fields)
    if kind == b"H":
        records: list[tuple[int, array[float]]] = []
        at, end = 1, len(body)
        while at < end:
            if end - at < _RECORD.size:
                raise WireError("a histogram record cut short")
            key, count = _RECORD.unpack_from(body, at)
            at += _RECORD.size
            size = count * _FLOAT
            if end - at < size:
                raise WireError("histogram observations cut short")
            values = array("d")
            values.frombytes(body[at:at + size])
            records.append((key, values))
            at += size
        return Batch(records=tuple(records))
    raise WireError(f"a frame of unknown kind {kind!r}")
