"""End-of-stream and Task.id rules (docs/binding.md §6.3, §6.5)."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from a2a.types.a2a_pb2 import TaskState
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.binding.stream import (
    FINAL_STATES,
    INTERRUPTED_STATES,
    TERMINAL_STATES,
    Uuid7Source,
    is_final_result,
    is_valid_task_id,
    new_context_id,
    new_task_id,
    state_name,
)

ALL_STATES = list(TaskState.keys())
EXPECTED_TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED",
                     "TASK_STATE_REJECTED"}
EXPECTED_INTERRUPTED = {"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"}
EXPECTED_FINAL = EXPECTED_TERMINAL | EXPECTED_INTERRUPTED


def test_state_sets() -> None:
    assert TERMINAL_STATES == EXPECTED_TERMINAL
    assert INTERRUPTED_STATES == EXPECTED_INTERRUPTED
    assert FINAL_STATES == TERMINAL_STATES | INTERRUPTED_STATES == EXPECTED_FINAL
    assert not TERMINAL_STATES & INTERRUPTED_STATES
    assert set(ALL_STATES) >= FINAL_STATES   # every name is a real TaskState


@pytest.mark.parametrize("state", ALL_STATES)
def test_state_name(state: str) -> None:
    assert state_name(TaskState.Value(state)) == state


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("key", ["statusUpdate", "task"])
def test_final_states_end_a_stream(state: str, key: str) -> None:
    result = {key: {"taskId": "t", "status": {"state": state}}}
    assert is_final_result(result) is (state in EXPECTED_FINAL)


@pytest.mark.parametrize("result", [
    {"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "hi"}]}},
    {"message": {}},
    {"message": None},
])
def test_a_message_ends_a_stream(result: dict[str, Any]) -> None:
    assert is_final_result(result)


@pytest.mark.parametrize("result", [None, [], [{"message": {}}], "done", 0, True])
def test_non_object_results_end_a_stream(result: Any) -> None:
    assert is_final_result(result)


@pytest.mark.parametrize("result", [
    {},                                                          # the explicit end marker body
    {"artifactUpdate": {"artifact": {"artifactId": "a"}, "lastChunk": True}},
    {"artifactUpdate": {"artifact": {"artifactId": "a"}, "lastChunk": False}},
    {"statusUpdate": {}},
    {"statusUpdate": {"status": {}}},
    {"statusUpdate": {"status": "TASK_STATE_COMPLETED"}},
    {"statusUpdate": "TASK_STATE_COMPLETED"},
    {"statusUpdate": {"status": {"state": "completed"}}},        # 0.3 spelling is not ProtoJSON
    {"statusUpdate": {"status": {"state": "TASK_STATE_DONE"}}},
    {"task": {"status": {"state": "TASK_STATE_WORKING"}}},
    {"status": {"state": "TASK_STATE_COMPLETED"}},               # not wrapped in a oneof key
    {"unknown": {"status": {"state": "TASK_STATE_COMPLETED"}}},
])
def test_results_that_do_not_end_a_stream(result: dict[str, Any]) -> None:
    assert not is_final_result(result)


def test_send_message_response_shapes() -> None:
    assert is_final_result({"task": {"id": "t", "status": {"state": "TASK_STATE_COMPLETED"}}})
    assert not is_final_result({"task": {"id": "t", "status": {"state": "TASK_STATE_SUBMITTED"}}})


def test_numeric_final_state_ends_a_stream() -> None:
    assert is_final_result({"statusUpdate": {"status": {"state": 3}}})


@pytest.mark.parametrize("state", ALL_STATES)
def test_numeric_states_follow_the_same_rule(state: str) -> None:
    number = TaskState.Value(state)
    for key in ("statusUpdate", "task"):
        assert is_final_result({key: {"status": {"state": number}}}) is (state in EXPECTED_FINAL)


@pytest.mark.parametrize("value", [99, -1, True, 3.0, "3"])
def test_unknown_or_non_integer_numbers_are_not_final(value: object) -> None:
    assert not is_final_result({"statusUpdate": {"status": {"state": value}}})


# -- Task.id ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b",
    "3F2B8C1E-6A4D-4E1F-9B7A-2C5D8E0F1A2B",
    "00000000-0000-0000-0000-000000000000",
    str(uuid.uuid1()),
    str(uuid.uuid4()),
    str(uuid.uuid5(uuid.NAMESPACE_DNS, "example.com")),
])
def test_valid_task_ids(value: str) -> None:
    assert is_valid_task_id(value)


@pytest.mark.parametrize("value", [
    "",
    "task-1",
    "3f2b8c1e6a4d4e1f9b7a2c5d8e0f1a2b",            # no hyphens
    "{3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b}",
    "urn:uuid:3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b",
    "3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b\n",
    " 3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b",
    "3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2",         # one digit short
    "3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2bc",       # one digit long
    "3g2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b",        # not hex
    "3f2b8c1e-6a4d4-e1f-9b7a-2c5d8e0f1a2b",        # hyphen misplaced
])
def test_invalid_task_ids(value: str) -> None:
    assert not is_valid_task_id(value)


@pytest.mark.parametrize("make", [new_task_id, new_context_id])
def test_new_ids_are_fresh_uuid7s(make: Any) -> None:
    first, second = make(), make()
    assert first < second
    for value in (first, second):
        assert is_valid_task_id(value)
        assert uuid.UUID(value).version == 7
        assert value == value.lower()


def test_new_ids_are_canonical_time_ordered_uuid7_text() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_task_id() for _ in range(2_000)] + [new_context_id() for _ in range(2_000)]
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, text)
        assert is_valid_task_id(text)
        # The first 48 bits: when it was made, in Unix milliseconds (a stamp runs at
        # most one ~244 ns step per id ahead of the clock).
        assert before <= parsed.int >> 80 <= after + 1
    # Every random digit takes every value; the variant digit each of its four.
    assert {text[-1] for text in ids} == set("0123456789abcdef")
    assert {text[19] for text in ids} == set("89ab")


@given(clock=st.lists(st.integers(min_value=0, max_value=(1 << 48) * 1_000_000 - 10**9),
                      min_size=1, max_size=50),
       entropy=st.binary(min_size=8, max_size=8))
def test_a_source_s_ids_increase_whatever_the_clock_does(clock: list[int],
                                                         entropy: bytes) -> None:
    """Repeated readings, readings within one step, a clock stepping back: every id is
    canonical UUIDv7 text above the one before it, never behind its own reading."""
    readings = iter(clock)
    source = Uuid7Source(clock=lambda: next(readings), entropy=lambda n: entropy[:n])
    ids = [source() for _ in clock]
    assert all(a < b for a, b in itertools.pairwise(ids))
    for text, ns in zip(ids, clock, strict=True):
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, text)
        assert is_valid_task_id(text)
        assert parsed.int >> 80 >= ns // 1_000_000
        assert parsed.int & ((1 << 62) - 1) == int.from_bytes(entropy, "big") & ((1 << 62) - 1)


@given(start=st.integers(min_value=0, max_value=(1 << 47) * 1_000_000),
       steps=st.lists(st.integers(min_value=1_000_000, max_value=10**12), max_size=20))
def test_a_forward_clock_is_taken_as_it_is(start: int, steps: list[int]) -> None:
    """A clock that moves on by a millisecond or more per id: each id carries its own
    reading's millisecond and sub-millisecond step, not a bumped one."""
    clock = list(itertools.accumulate(steps, initial=start))
    readings = iter(clock)
    source = Uuid7Source(clock=lambda: next(readings))
    for ns in clock:
        value = uuid.UUID(source()).int
        assert value >> 80 == ns // 1_000_000
        assert value >> 64 & 0xFFF == ns % 1_000_000 * 4096 // 1_000_000
