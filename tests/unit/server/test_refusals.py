"""RefusalLog: which refusals get a log line (pure; a fake clock)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.binding.topics import reply_topic_problem
from a2a_mqtt.server.refusals import REASONS, RefusalLog, refusal_reason


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_per_key_then_a_summary_after_the_interval() -> None:
    clock = Clock()
    limiter = RefusalLog(interval=60.0, burst=3, clock=clock)
    verdicts = [limiter.refuse(("c", "t1")) for _ in range(5)]
    assert [v.log for v in verdicts] == [True, False, False, False, False]
    assert all(v.suppressed == 0 for v in verdicts)
    assert limiter.refuse(("c", "t2")).log
    assert limiter.refuse(("c", "t3")).log
    assert not limiter.refuse(("c", "t4")).log  # budget of new keys spent for this interval
    assert limiter.suppressed == 5
    clock.now = 60.0
    after = limiter.refuse(("c", "t4"))
    assert (after.log, after.suppressed) == (True, 5)  # new budget; the summary is due
    assert limiter.refuse(("c", "t1")) .suppressed == 0  # reported once only
    assert limiter.suppressed == 1


@given(st.lists(st.tuples(st.integers(0, 30), st.floats(0, 5)), max_size=400))
def test_lines_per_interval_are_bounded_and_nothing_is_lost(
        events: list[tuple[int, float]]) -> None:
    clock = Clock()
    limiter = RefusalLog(interval=10.0, burst=4, max_keys=8, clock=clock)
    logged = summarised = 0
    windows: dict[int, int] = {}
    for key, step in events:
        clock.now += step
        v = limiter.refuse(key)
        lines = int(v.log) + int(v.suppressed > 0)
        window = int(clock.now // 10)
        windows[window] = windows.get(window, 0) + lines
        logged += v.log
        summarised += v.suppressed
    # Every refusal is either logged, reported in a summary, or still pending one.
    assert logged + summarised + limiter.suppressed == len(events)
    # Budget windows start at refusals, not at multiples of 10: two calendar windows
    # can share one budget window's lines, so bound per pair of calendar windows.
    assert all(n <= 2 * (4 + 1) for n in windows.values())


def test_arguments_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RefusalLog(burst=0)


@pytest.mark.parametrize(("topic", "reason"), [
    (None, "no_reply_topic"), ("", "no_reply_topic"), ("plain/topic", "reply_topic_outside"),
    ("$SYS/x", "reply_topic_outside"), ("$a2a/v1/reply/", "reply_topic_outside"),
    ("$a2a/v1/reply/a/#", "reply_topic_invalid"), ("$a2a/v1/reply/a\x00", "reply_topic_invalid"),
    ("$a2a/v1/reply/" + "x" * 70_000, "reply_topic_invalid"),
])
def test_every_problem_maps_to_a_bounded_reason(topic: str | None, reason: str) -> None:
    problem = reply_topic_problem(topic)
    assert problem is not None
    assert refusal_reason(problem) == reason
    assert reason in REASONS
