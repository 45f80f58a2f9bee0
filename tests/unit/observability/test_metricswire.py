"""The metrics process's pipe format: what is framed is read back whole, however the
pipe cuts it, and anything else is a WireError (never another exception)."""

from __future__ import annotations

import contextlib
import math
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.observability.metricswire import (
    HEADER,
    MAX_FRAME,
    Batch,
    Control,
    WireError,
    batch,
    control,
    decode,
    split,
)

FLOATS = st.floats(allow_nan=False) | st.just(math.inf) | st.just(-0.0)
RECORDS = st.lists(st.tuples(st.integers(0, 2**32 - 1), st.lists(FLOATS, max_size=40)),
                   max_size=6)
CONTROLS = st.builds(
    lambda op, key, value: (op, {"m": key, "values": {"x": [[["a", "b"], value]]}}),
    st.sampled_from(["new", "inst", "key", "snap", "render", "push", "drop"]),
    st.integers(0, 2**31), st.floats(allow_nan=False) | st.integers())


def _message(item: tuple[str, object]) -> tuple[bytes, Control | Batch]:
    kind, payload = item
    if kind == "batch":
        records = [(k, array("d", v)) for k, v in payload]  # type: ignore[attr-defined]
        return batch(records), Batch(records=tuple(records))
    op, fields = payload  # type: ignore[misc]
    return control(op, **fields), Control(op=op, fields=fields)


MESSAGES = st.lists(st.one_of(st.tuples(st.just("batch"), RECORDS),
                              st.tuples(st.just("control"), CONTROLS)), max_size=8)


@settings(max_examples=200)
@given(items=MESSAGES, cuts=st.lists(st.integers(0, 4096), max_size=10))
def test_frames_read_back_whole_however_the_pipe_cuts_them(
        items: list[tuple[str, object]], cuts: list[int]) -> None:
    frames, expected = zip(*(_message(i) for i in items), strict=True) if items else ((), ())
    stream = b"".join(frames)
    got: list[Control | Batch] = []
    rest = b""
    at = 0
    for cut in [*sorted(cuts), len(stream)]:  # the stream as the pipe hands it over
        bodies, rest = split(rest + stream[at:max(at, cut)])
        got += [decode(body) for body in bodies]
        at = max(at, cut)
    assert rest == b""
    assert got == list(expected)


@settings(max_examples=500)
@given(data=st.binary(max_size=200))
def test_anything_else_is_a_wire_error(data: bytes) -> None:
    for body in (data, b"J" + data, b"H" + data):
        with contextlib.suppress(WireError):  # any other exception fails the test
            decode(body)
    with contextlib.suppress(WireError):
        split(data)


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty"),
    (b"Z{}", "unknown kind"),
    (b"J{not json", "not JSON"),
    (b'J{"op": "format-disk"}', "known op"),
    (b"J[1, 2]", "known op"),
    (b"H\x00\x00\x00\x01", "cut short"),
    (b"H\x00\x00\x00\x01\x00\x00\x00\x02" + bytes(8), "cut short"),
])
def test_hostile_bodies_are_named(body: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode(body)


def test_an_impossible_length_is_no_frame() -> None:
    with pytest.raises(WireError, match="at most"):
        split(HEADER.pack(MAX_FRAME + 1) + b"J{}")
