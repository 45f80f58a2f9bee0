"""deploy/observability: every PromQL query names series we export, with labels they carry;
the Grafana JSON is a structurally valid dashboard model; the scrape config parses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from a2a_mqtt.observability import names as N

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "observability"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_NUMBER = re.compile(r"(?<![A-Za-z_:])\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "and", "or", "unless", "offset"})
_TARGET_LABELS = frozenset({"instance", "job", "a2a_mqtt_service"})  # added by Prometheus
_LEGEND = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _series() -> dict[str, set[str]]:
    """Every series name the exporter produces -> the labels it carries."""
    out: dict[str, set[str]] = {}
    for inst in N.ALL:
        labels = {N.prometheus_label(a) for a in inst.attributes} | _TARGET_LABELS
        base = N.prometheus_name(inst)
        if inst.kind == "histogram":
            out[f"{base}_bucket"] = labels | {"le"}
            out[f"{base}_count"] = labels
            out[f"{base}_sum"] = labels
        else:
            out[base] = labels
    return out


def parse_promql(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression uses: enough PromQL for our dashboards."""
    labels: set[str] = set()
    text = _STRING.sub('""', expr)
    text = _RANGE.sub("", text)
    for body in _MATCHERS.findall(text):
        labels.update(m.group(0) for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*(?=\s*[=!])",
                                                       body))
    text = _MATCHERS.sub(" ", text)
    for body in _GROUPING.findall(text):
        labels.update(x.strip() for x in body.split(",") if x.strip())
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    metrics = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group(0) in _KEYWORDS:
            continue  # a function or an operator keyword
        metrics.add(match.group(0))
    return metrics, labels


def test_the_parser_finds_names_and_labels() -> None:
    metrics, labels = parse_promql(
        'histogram_quantile(0.99, sum by (le, a2a_agent) (rate('
        'rpc_server_call_duration_seconds_bucket{a2a_agent=~"$agent", x!="a{b}"}[5m]))) / 1e-9')
    assert metrics == {"rpc_server_call_duration_seconds_bucket"}
    assert labels == {"le", "a2a_agent", "x"}


def _dashboard() -> dict[str, Any]:
    data = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    assert isinstance(data, dict)
    return data


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, expr, legendFormat) of every target, rows' nested panels included."""
    out = []
    for panel in dashboard["panels"] + [p for r in dashboard["panels"]
                                        for p in r.get("panels", [])]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            found = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert found, query
            out.append((f"variable {var['name']}", f"{found[1]}{{{found[2]}!=\"\"}}", ""))
    return out


def test_every_query_names_an_exported_series_and_its_labels() -> None:
    series = _series()
    queries = _queries(_dashboard())
    assert len(queries) >= 30
    used: set[str] = set()
    for title, expr, legend in queries:
        metrics, labels = parse_promql(expr)
        assert metrics, (title, expr)
        for metric in metrics:
            assert metric in series, f"{title}: {metric} is not exported (names.py)"
            unknown = labels - series[metric] - ({"le"} if metric.endswith("_bucket") else set())
            assert not unknown, f"{title}: {metric} has no label(s) {unknown}"
            legend_labels = set(_LEGEND.findall(legend))
            assert legend_labels <= labels | _TARGET_LABELS, (title, legend_labels)
        used |= metrics
    # The dashboard covers every family at least once.
    families = {m.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
                for m in used}
    missing = {N.prometheus_name(i) for i in N.ALL} - families
    assert not missing, f"not on the dashboard: {sorted(missing)}"


@pytest.mark.parametrize("key", ["title", "uid", "schemaVersion", "panels", "templating",
                                 "time"])
def test_dashboard_has_the_model_keys(key: str) -> None:
    assert key in _dashboard()


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = _dashboard()
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 30
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "agent"} <= variables
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert set(grid) == {"x", "y", "w", "h"}
        assert all(isinstance(v, int) and v >= 0 for v in grid.values())
        assert grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']} overlaps another"
                cells.add((x, y))
        assert panel["type"] in {"row", "timeseries", "stat", "gauge", "table", "bargauge"}
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


def test_scrape_config_parses_and_scrapes_metrics_paths() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = config["scrape_configs"]
    assert {j["job_name"] for j in jobs} >= {"a2a-mqtt-gateway", "a2a-mqtt-registry",
                                             "a2a-mqtt-agents"}
    for job in jobs:
        assert job["metrics_path"] == "/metrics"
        for static in job["static_configs"]:
            assert all(re.fullmatch(r"[\w.-]+:\d+", t) for t in static["targets"])


def test_grafana_and_the_built_in_dashboard_read_the_same_series() -> None:
    """The web dashboard (a2a_mqtt/dashboard/metrics.py) charts what Grafana charts: each
    series it reads is queried by the Grafana JSON, grouped by the same label."""
    from a2a_mqtt.dashboard import metrics as D

    by_metric: dict[str, set[str]] = {}
    for _title, expr, _legend in _queries(_dashboard()):
        metrics, labels = parse_promql(expr)
        for metric in metrics:
            by_metric.setdefault(metric, set()).update(labels)
    for inst, keys in D.USED:
        family = N.prometheus_name(inst)
        series = f"{family}_bucket" if inst.kind == "histogram" else family
        assert series in by_metric, f"Grafana does not query {series}"
        wanted = {N.prometheus_label(k) for k in keys}
        assert wanted & by_metric[series], (series, wanted, by_metric[series])
