"""names.py tells the truth: each instrument renders under prometheus_name() in a real scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.metrics import Metrics


def _scrape_names(metrics: Metrics) -> set[str]:
    text = metrics.render()[0].decode()
    found: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.add(sample.name)
    return found


def test_every_instrument_renders_under_its_documented_prometheus_name() -> None:
    metrics = Metrics(service="test")
    for inst in N.ALL:
        key = tuple("x" for _ in inst.attributes)
        if inst.kind in ("counter", "updown"):
            metrics.sum(inst).add(key, 1)
        elif inst.kind == "histogram":
            metrics.histogram(inst).record(key, 0.5)
        else:
            metrics.gauge(inst, lambda key=key: [(key, 1.0)])
    rendered = _scrape_names(metrics)
    for inst in N.ALL:
        name = N.prometheus_name(inst)
        expected = f"{name}_count" if inst.kind == "histogram" else name
        assert expected in rendered, (inst.name, name, sorted(rendered))


def test_names_are_unique_and_attribute_keys_distinct() -> None:
    assert len({i.name for i in N.ALL}) == len(N.ALL)
    for inst in N.ALL:
        assert len(set(inst.attributes)) == len(inst.attributes), inst.name


def test_sums_are_exact_and_histogram_counts_match() -> None:
    metrics = Metrics(service="test")
    calls = metrics.sum(N.CLIENT_CALLS)
    hist = metrics.histogram(N.CLIENT_DURATION)
    for _ in range(7):
        calls.add(("a2a", "SendMessage", "ok", ""))
        hist.record(("a2a", "SendMessage", "ok"), 0.002)
    calls.add(("a2a", "SendMessage", "error", "-32001"), 2)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(metrics.render()[0].decode())
               for s in f.samples}
    ok = [v for (n, labels), v in samples.items()
          if n == "rpc_client_requests_total" and ("a2a_outcome", "ok") in labels]
    err = [v for (n, labels), v in samples.items()
           if n == "rpc_client_requests_total" and ("rpc_jsonrpc_error_code", "-32001") in labels]
    count = [v for (n, _l), v in samples.items() if n == "rpc_client_call_duration_seconds_count"]
    assert ok == [7.0]
    assert err == [2.0]
    assert count == [7.0]


def doc_row(inst: N.Instrument) -> str:
    """The row of docs/observability.md's metrics table for ``inst``."""
    kinds = {"counter": "counter", "histogram": "histogram", "updown": "up-down counter",
             "gauge": "gauge"}
    attrs = ", ".join(f"`{a}`" for a in inst.attributes) or "-"
    return (f"| `{inst.name}` | `{N.prometheus_name(inst)}` | {kinds[inst.kind]} | "
            f"`{inst.unit}` | {attrs} | {inst.description.replace('|', '/')} |")


def test_the_doc_table_matches_names_py() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "observability.md").read_text()
    for inst in N.ALL:
        assert doc_row(inst) in doc, f"regenerate the row of {inst.name}:\n{doc_row(inst)}"
