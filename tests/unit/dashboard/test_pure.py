"""Sign-in, the wire inspector's property view, SSE frames, Prometheus text, config (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.dashboard.auth import SessionStore, check_secret, hash_password, parse_password_hash
from a2a_mqtt.dashboard.config import DashboardConfig
from a2a_mqtt.dashboard.feed import parse_sse
from a2a_mqtt.dashboard.metrics import parse_prometheus
from a2a_mqtt.dashboard.wire import WireLog, describe_properties
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport.base import PublishProperties

FAST = {"n": 2**10}


def test_password_and_token_check() -> None:
    hashed = hash_password("correct horse", **FAST)
    assert check_secret("correct horse", password_hash=hashed, access_token=None)
    assert not check_secret("wrong", password_hash=hashed, access_token=None)
    token = "a" * 20
    assert check_secret(token, password_hash=None, access_token=token)
    assert not check_secret("", password_hash=hashed, access_token=token)
    assert not check_secret("x" * 5000, password_hash=hashed, access_token=token)


@given(st.text(max_size=80))
def test_malformed_password_hashes_are_config_errors_without_the_text(text: str) -> None:
    try:
        parse_password_hash(text)
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    # A fixed message: nothing of the (secret) hash text is echoed.
    assert message in {"password_hash must be scrypt$N$r$p$SALT$HASH (a2a-mqtt dashboard "
                       "hash-password)", "password_hash parameters are out of range"}


def test_sessions_expire_and_close() -> None:
    store = SessionStore(10.0)
    sid = store.open(now=0.0)
    assert store.valid(sid, now=5.0)
    assert not store.valid(sid, now=11.0)
    sid = store.open(now=0.0)
    store.close(sid)
    assert not store.valid(sid, now=1.0)
    assert not store.valid(None) and not store.valid("x" * 500)


def test_wire_properties_redact_authorization() -> None:
    props = PublishProperties(response_topic="r", correlation_data=b"\xff\x00",
                              user_properties=(("a2a-authorization", "Bearer s3cret"),
                                               ("A2A-Version", "1.0")))
    out = describe_properties(props)
    assert out["correlationData"].startswith("base64:")
    assert ["a2a-authorization", "<redacted>"] in out["userProperties"]
    assert "s3cret" not in str(out)


def test_wire_log_is_bounded_and_decodes_json() -> None:
    seen: list[object] = []
    log = WireLog(limit=2, listener=seen.append)
    for _ in range(3):
        log.add("request", "t", b'{"method": "X"}', 1, None)
    assert len(log.items) == 2 and len(seen) == 2
    assert log.items[0]["payload"] == {"method": "X"}


@given(st.lists(st.text(st.characters(blacklist_characters="\r\n"), max_size=30), max_size=6))
def test_parse_sse_never_fails(lines: list[str]) -> None:
    parsed = parse_sse(lines)
    assert parsed is None or isinstance(parsed[2], str)


def test_parse_sse_reads_a_frame() -> None:
    assert parse_sse(["id: e-3", "event: offline", 'data: {"ref": "a/b/c"}']) == (
        "offline", "e-3", '{"ref": "a/b/c"}')
    assert parse_sse([": ping"]) is None


def test_prometheus_text_samples() -> None:
    text = ('# HELP x y\n# TYPE a counter\na_total{agent="o/u/a",code="0"} 12\n'
            "b 1.5e3 1700000000\ngarbage line\n")
    assert parse_prometheus(text) == [
        {"name": "a_total", "labels": {"agent": "o/u/a", "code": "0"}, "value": 12.0},
        {"name": "b", "labels": {}, "value": 1500.0}]


@given(st.text(max_size=300))
def test_prometheus_parser_never_fails(text: str) -> None:
    for sample in parse_prometheus(text):
        assert isinstance(sample["value"], float)


def test_config_refuses_an_open_dashboard_off_loopback() -> None:
    with pytest.raises(ConfigError, match="read-only"):
        DashboardConfig(host="0.0.0.0")
    DashboardConfig(host="0.0.0.0", read_only=True)
    DashboardConfig(host="0.0.0.0", access_token="x" * 16)
    with pytest.raises(ConfigError, match="registry_url"):
        DashboardConfig(registry_url="ftp://x")
    assert "hunter" not in repr(DashboardConfig(access_token="hunter2-hunter2-hunter2"))


EXPOSITION = """
# TYPE rpc_server_requests_total counter
rpc_server_requests_total{a2a_agent="echo",rpc_method="SendMessage",a2a_outcome="ok"} 90
rpc_server_requests_total{a2a_agent="echo",rpc_method="SendMessage",a2a_outcome="error"} 10
rpc_server_requests_total{a2a_agent="greeter",rpc_method="SendMessage",a2a_outcome="ok"} 5
rpc_server_call_duration_seconds_bucket{a2a_agent="echo",le="0.01"} 50
rpc_server_call_duration_seconds_bucket{a2a_agent="echo",le="0.1"} 100
rpc_server_call_duration_seconds_bucket{a2a_agent="echo",le="+Inf"} 100
a2a_mqtt_registry_cards{a2a_status="online"} 3
"""


def test_summary_of_the_exported_series() -> None:
    from a2a_mqtt.dashboard.metrics import summarize

    out = summarize(parse_prometheus(EXPOSITION))
    echo = out["agents"]["echo"]
    assert (echo["requests"], echo["errors"], echo["errorRate"]) == (100, 10, 0.1)
    assert echo["latency"]["p50"] == pytest.approx(0.01)
    assert echo["latency"]["p95"] == pytest.approx(0.01 + 0.09 * 0.9)
    assert out["agents"]["greeter"]["latency"]["p50"] is None  # no histogram: no number
    assert out["fleet"]["requests"] == 105
    assert out["registryCards"] == {"online": 3}
    assert "httpRequests" not in out
    assert summarize([]) == {}


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1000)), max_size=8),
       st.floats(0, 1))
def test_quantile_stays_within_the_bounds(pairs: list[tuple[float, float]], q: float) -> None:
    from a2a_mqtt.dashboard.metrics import quantile

    # A cumulative histogram: counts never decrease with le.
    pairs = sorted(pairs)
    counts = sorted(c for _, c in pairs)
    buckets = [(le, c) for (le, _), c in zip(pairs, counts, strict=True)]
    value = quantile(buckets, q)
    if value is not None:
        assert 0 <= value <= max(le for le, _ in buckets)
