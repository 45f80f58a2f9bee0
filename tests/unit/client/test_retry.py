"""The requester's retry profile: backoff, the overload hint and their bounds (pure)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.binding.codes import ResponderUnavailableError
from a2a_mqtt.client.retry import (
    OverloadedError,
    backoff_delay,
    overload_delay,
    parse_retry_after,
)

BOUNDED = settings(derandomize=True, max_examples=300, deadline=None)


def test_retry_after_is_plain_decimal_seconds() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("0") == 0.0
    for bad in (None, "", "-1", "+1", "1e3", "nan", "inf", "Infinity", "1.", ".5", "1,5",
                "\uff11", "0x10", "99999999", "1.1234567", "1 2"):
        assert parse_retry_after(bad) is None, bad


def test_a_hint_longer_than_a_day_is_no_hint() -> None:
    assert parse_retry_after("86400") == 86400.0
    assert parse_retry_after("86401") is None


@BOUNDED
@given(st.text(max_size=40))
def test_any_text_gives_none_or_a_finite_bounded_delay(value: str) -> None:
    hint = parse_retry_after(value)
    assert hint is None or (math.isfinite(hint) and 0 <= hint <= 86_400)


def test_backoff_follows_the_table_and_repeats_its_last_value() -> None:
    table = (1.0, 2.0, 4.0)
    assert [backoff_delay(table, n, 0.2, 0.5) for n in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(table, 0, 0.2, 0.0) == 0.8
    assert math.isclose(backoff_delay(table, 0, 0.2, 0.999999), 1.2, rel_tol=1e-5)


@BOUNDED
@given(hint=st.floats(0, 1000), limit=st.floats(0, 1000), jitter=st.floats(0, 1),
       rand=st.floats(0, 1, exclude_max=True))
def test_overload_delay_never_sooner_than_asked_never_beyond_the_limit(
        hint: float, limit: float, jitter: float, rand: float) -> None:
    delay = overload_delay(hint, limit=limit, jitter=jitter, rand=rand)
    if hint > limit:
        assert delay is None
    else:
        assert delay is not None and hint <= delay <= limit


def test_overload_jitter_spreads_requesters_turned_away_together() -> None:
    delays = {overload_delay(2.0, limit=30, jitter=0.2, rand=r / 10) for r in range(10)}
    assert len(delays) == 10 and min(delays) == 2.0 and max(delays) < 2.4


def test_overloaded_error_is_a_responder_unavailable_error_with_its_hint() -> None:
    err = OverloadedError("busy", {"a2a_error": "responder_unavailable"}, retry_after=1.5)
    assert isinstance(err, ResponderUnavailableError)
    assert err.retryable and err.retry_after == 1.5 and err.message == "busy"
