"""The dashboard reads the series an agent really exports: its names come from
observability/names.py and equal what a real scrape of :class:`Metrics` shows."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from a2a_mqtt.dashboard import metrics as D
from a2a_mqtt.dashboard.metrics import parse_prometheus, summarize
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.agent import AgentMetrics
from a2a_mqtt.observability.metrics import Metrics


def _scrape(metrics: Metrics) -> dict[str, set[str]]:
    """Sample name -> label names, as a real Prometheus scrape of ``metrics`` shows them."""
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def _recorded() -> Metrics:
    metrics = Metrics(service="test")
    for inst, _keys in D.USED:
        key = tuple("x" for _ in inst.attributes)
        if inst.kind == "counter":
            metrics.sum(inst).add(key, 1)
        elif inst.kind == "histogram":
            metrics.histogram(inst).record(key, 0.01)
        else:
            metrics.gauge(inst, lambda key=key: [(key, 1.0)])
    return metrics


def test_the_derived_names_are_what_a_real_scrape_shows() -> None:
    scraped = _scrape(_recorded())
    expected = {D.REQUESTS: {D.AGENT, D.OUTCOME}, f"{D.DURATION}_bucket": {D.AGENT, "le"},
                D.REGISTRY_CARDS: {D.STATUS}, D.HTTP_REQUESTS: {D.SERVICE}}
    for name, labels in expected.items():
        assert name in scraped, (name, sorted(scraped))
        assert labels <= scraped[name], (name, labels, scraped[name])


def test_every_read_instrument_carries_the_keys_the_dashboard_groups_by() -> None:
    for inst, keys in D.USED:
        assert set(keys) <= set(inst.attributes), inst.name


@pytest.mark.parametrize(("key", "label"), [
    ("a2a.agent", "a2a_agent"), ("http.route", "http_route"),
    ("rpc.jsonrpc.error_code", "rpc_jsonrpc_error_code")])
def test_label_rewrite(key: str, label: str) -> None:
    assert N.prometheus_label(key) == label


def test_a_real_agents_scrape_summarizes_exactly() -> None:
    """7 ok + 3 error requests recorded the way the dispatcher records them."""
    metrics = Metrics(service="agent")
    agent = AgentMetrics(metrics, agent="echo")
    for i in range(10):
        record = agent.begin(10)
        record.named("SendMessage")
        if i >= 7:
            record.code = -32001
        record.sent(20, end=True)
    out = summarize(parse_prometheus(metrics.render()[0].decode()))
    echo = out["agents"]["echo"]
    assert (echo["requests"], echo["errors"]) == (10, 3)
    assert echo["errorRate"] == pytest.approx(0.3)
    assert echo["latency"]["p50"] is not None and 0 < echo["latency"]["p50"] <= 0.0005
    assert out["fleet"]["requests"] == 10
