"""Log formats: JSON lines with span ids, and no credential in either format."""

from __future__ import annotations

import io
import itertools
import json
import logging

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from a2a_mqtt.observability.logs import JsonFormatter, Tenfold, TextFormatter, scrub

SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-",
                 min_size=6, max_size=40).map(lambda s: f"Zq9{s}")


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        error = RuntimeError(msg % args if args else msg)
        exc_info = (RuntimeError, error, None)
    return logging.LogRecord("a2a_mqtt.test", logging.WARNING, __file__, 1, msg, args, exc_info)


@given(secret=SECRET, user=st.sampled_from(["alice", "svc", ""]),
       scheme=st.sampled_from(["mqtt", "mqtts", "ws", "wss", "http", "postgresql"]))
def test_url_passwords_never_reach_either_format(secret: str, user: str, scheme: str) -> None:
    url = f"{scheme}://{user}:{secret}@broker.example:8883/x"
    for formatter in (TextFormatter(), JsonFormatter()):
        out = formatter.format(_record("cannot connect to %s", url, exc=True))
        assert secret not in out
        assert "broker.example:8883" in out  # the useful part stays


@given(secret=SECRET, form=st.sampled_from([
    "Authorization: Bearer {}", "bearer {}", "Basic {}", "password={}", "token: {}",
    "api_key={}", '"secret": "{}"', "passwd={}&x=1"]))
def test_tokens_and_key_value_secrets_are_masked(secret: str, form: str) -> None:
    text = "request refused: " + form.format(secret)
    assert secret not in scrub(text)
    assert "***" in scrub(text)
    assert secret not in JsonFormatter().format(_record("%s", text))


def test_plain_text_is_left_alone() -> None:
    text = "agent acme/plant/x serving on mqtt://127.0.0.1:1883 (session present: False)"
    assert scrub(text) == text


def test_json_lines_carry_the_current_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    fmt = JsonFormatter()
    outside = json.loads(fmt.format(_record("no span")))
    assert "trace_id" not in outside and outside["level"] == "WARNING"
    with tracer.start_as_current_span("work") as span:
        ctx = span.get_span_context()
        inside = json.loads(fmt.format(_record("in span %d", 1)))
    assert inside["message"] == "in span 1"
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
    assert inside["logger"] == "a2a_mqtt.test"


def test_configure_logging_replaces_its_own_handler() -> None:
    from a2a_mqtt.observability.logs import configure_logging

    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        first = configure_logging(logging.INFO, "json")
        second = configure_logging(logging.INFO, "text")
        assert first not in root.handlers and second in root.handlers
        stream = io.StringIO()
        assert isinstance(second, logging.StreamHandler)
        second.setStream(stream)
        logging.getLogger("a2a_mqtt.t").info("connect to mqtt://u:hunter2hunter2@h")
        assert "hunter2hunter2" not in stream.getvalue() and "u:***@h" in stream.getvalue()
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)


@given(text=st.text(max_size=60))
def test_a_record_is_one_line_in_either_format_whatever_its_text(text: str) -> None:
    """A peer's text in a message (a topic, a refused request's reason) never starts a
    line of its own: a forged log line is impossible in either format."""
    record = _record("bad request on %s: %s", "$a2a/v1/request/x", text)
    line = TextFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert line.isprintable() or not any(c in line for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85")
    assert len(JsonFormatter().format(record).splitlines()) == 1


def test_a_forged_line_is_escaped_and_a_traceback_keeps_its_lines() -> None:
    line = TextFormatter().format(_record("bad request: %s", "x\nERROR a2a_mqtt: forged"))
    assert "\nERROR" not in line and "x\\nERROR a2a_mqtt: forged" in line
    error = ValueError("boom\nsecond line")
    record = logging.LogRecord("a2a_mqtt.test", logging.ERROR, __file__, 1, "failed", (),
                               (ValueError, error, None))
    text = TextFormatter().format(record)
    assert text.splitlines() == [text.splitlines()[0], "ValueError: boom", "second line"]
    assert text.splitlines()[0].endswith("failed")


@given(st.lists(st.integers(min_value=1, max_value=500), max_size=60))
def test_a_growing_count_is_logged_at_the_first_and_at_every_tenfold(adds: list[int]) -> None:
    tenfold = Tenfold()
    lines = [tenfold.count for n in adds if tenfold.add(n)]
    assert tenfold.count == sum(adds)
    if adds:
        assert lines[0] == adds[0]  # the first event is always told
    # Each line's count is at least ten times the last one's: a handful for a flood.
    assert all(b >= 10 * a for a, b in itertools.pairwise(lines))
    # ... and no tenfold passes untold.
    assert not adds or tenfold.count < 10 * lines[-1]


def test_one_at_a_time_the_lines_come_at_1_10_100() -> None:
    tenfold = Tenfold()
    assert [i for i in range(1, 1001) if tenfold.add()] == [1, 10, 100, 1000]
