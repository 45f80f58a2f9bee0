"""Recording invariants, without I/O: each request counted once, gauges back to zero,
every attribute value drawn from a bounded set whatever the input."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from a2a_mqtt.gateway.routing import gateway_route
from a2a_mqtt.observability.agent import METHODS, AgentMetrics
from a2a_mqtt.observability.client import ClientMetrics
from a2a_mqtt.observability.health import Health
from a2a_mqtt.observability.http import ObservedApp
from a2a_mqtt.observability.metrics import Metrics
from a2a_mqtt.observability.registry import reject_reason
from a2a_mqtt.registry.http import registry_route


def _values(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(metrics.render()[0].decode())
            for s in f.samples if s.name == name}


EVENT = st.one_of(
    st.tuples(st.just("named"), st.text(max_size=30)),
    st.tuples(st.just("sent"), st.integers(0, 10_000), st.booleans(),
              st.none() | st.integers(-33000, -32000)),
)


@settings(deadline=None, max_examples=60)  # a Metrics per example: slow on a busy machine
@given(requests=st.lists(st.lists(EVENT, max_size=6), max_size=8))
def test_each_request_counted_once_and_in_flight_returns_to_zero(
        requests: list[list[tuple[Any, ...]]]) -> None:
    metrics = Metrics(service="t")
    agent = AgentMetrics(metrics, agent="o/u/a")
    for events in requests:
        call = agent.begin(10)
        for event in events:
            if event[0] == "named":
                call.named(event[1])
            else:
                call.code = event[3]
                call.sent(event[1], end=event[2])
        call.close()
    counted = _values(metrics, "rpc_server_requests_total")
    assert sum(counted.values()) == len(requests)
    assert all(v == 0 for v in _values(metrics, "rpc_server_active_requests").values())
    methods = {dict(k)["rpc_method"] for k in counted}
    assert methods <= METHODS | {"other", "unknown"}
    assert {dict(k)["a2a_outcome"] for k in counted} <= {"ok", "error", "no_reply"}
    durations = _values(metrics, "rpc_server_call_duration_seconds_count")
    assert sum(durations.values()) == len(requests)


def test_requester_outcomes() -> None:
    metrics = Metrics(service="t")
    client = ClientMetrics(metrics)
    ok = client.begin("SendMessage")
    ok.replied = True
    ok.end(GeneratorExit())  # the caller stopped reading after a reply: ok
    timed_out = client.begin("GetTask")
    timed_out.timeout()
    timed_out.end(TimeoutError())
    cancelled = client.begin("SendMessage")
    cancelled.retry()
    cancelled.end(asyncio.CancelledError())
    calls = {(dict(k)["rpc_method"], dict(k)["a2a_outcome"], dict(k)["rpc_jsonrpc_error_code"]): v
             for k, v in _values(metrics, "rpc_client_requests_total").items()}
    assert calls == {("SendMessage", "ok", ""): 1, ("GetTask", "error", "timeout"): 1,
                     ("SendMessage", "cancelled", ""): 1}
    assert sum(_values(metrics, "a2a_mqtt_client_timeouts_total").values()) == 1
    assert sum(_values(metrics, "a2a_mqtt_client_retries_total").values()) == 1


GATEWAY_ROUTES = {"/", "/openapi.json", "/healthz", "other", "/{agent}/",
                  "/{agent}/.well-known/agent-card.json", "/{agent}/rest", "/{agent}/other"}
REGISTRY_ROUTES = {"/agents/{ref}", "/cards/{ref}", "/agents", "/rejected", "/stats",
                   "/events", "/health", "/ready", "/openapi.json", "other"}


@given(path=st.text(max_size=80) | st.lists(
    st.sampled_from(["acme", "plant", "pool", "x", "rest", ".well-known", "", "a b"]),
    max_size=7).map(lambda p: "/" + "/".join(p)))
def test_routes_are_templates_never_raw_paths(path: str) -> None:
    assert gateway_route("POST", path) in GATEWAY_ROUTES
    assert registry_route("GET", path) in REGISTRY_ROUTES


def test_known_gateway_routes() -> None:
    assert gateway_route("POST", "/acme/plant/a") == "/{agent}/"
    assert gateway_route("POST", "/acme/plant/pool/p/") == "/{agent}/"
    assert gateway_route("POST", "/acme/plant/a/rest/message:send") == "/{agent}/rest"
    assert gateway_route("GET", "/acme/plant/a/.well-known/agent-card.json") == (
        "/{agent}/.well-known/agent-card.json")


@given(reasons=st.lists(st.text(max_size=60), max_size=3).map(tuple))
def test_reject_reasons_are_bounded(reasons: tuple[str, ...]) -> None:
    assert reject_reason(reasons) in {"signature", "topic", "size", "encoding", "json",
                                      "schema"}


async def _call(app: ObservedApp, path: str, method: str = "GET") -> tuple[int, bytes, str]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    start = sent[0]
    headers = dict(start.get("headers", []))
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], body, headers.get(b"content-type", b"").decode()


async def _inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    status = 200 if scope["path"] == "/ok" else 404
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"data: x\n\n"})


def test_observed_app_health_metrics_and_passthrough() -> None:
    async def run() -> None:
        metrics = Metrics(service="t")
        health = Health(service="svc", metrics=metrics)
        up = {"broker": False}
        health.add("broker", lambda: up["broker"])
        app = ObservedApp(service="svc", health=health, metrics=metrics, app=_inner,
                          route_of=lambda _m, p: p if p in ("/ok",) else "other")
        assert (await _call(app, "/healthz"))[0] == 200
        status, body, _ = await _call(app, "/readyz")
        assert status == 503 and b'"broker": false' in body
        up["broker"] = True
        assert (await _call(app, "/readyz"))[0] == 200
        for path in ("/ok", "/ok", "/missing/123"):
            await _call(app, path, "POST")
        status, body, ctype = await _call(app, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        requests = {(dict(k)["http_route"], dict(k)["http_response_status_code"]): v
                    for k, v in _values(metrics, "http_server_requests_total").items()}
        assert requests == {("/ok", "200"): 2, ("other", "404"): 1}
        assert all(v == 0 for v in _values(metrics, "a2a_mqtt_http_open_streams").values())
        ready = _values(metrics, "a2a_mqtt_ready")
        assert [(dict(k)["a2a_service"], v) for k, v in ready.items()] == [("svc", 1.0)]
        off = ObservedApp(service="svc", health=Health(service="svc"), metrics=None)
        assert (await _call(off, "/metrics"))[0] == 404
        assert (await _call(off, "/readyz"))[0] == 503  # no checks registered: not ready

    asyncio.run(run())


def test_a_failing_check_means_not_ready() -> None:
    health = Health(service="s")
    health.add("ok", lambda: True)

    def broken() -> bool:
        raise RuntimeError("boom")

    health.add("broken", broken)
    assert health.status() == {"ok": True, "broken": False}
    assert not health.ready()
    health.remove("broken")
    assert health.ready()


@given(text=st.text(max_size=80))
def test_loss_reasons_are_bounded(text: str) -> None:
    from a2a_mqtt.observability.transport import loss_reason

    assert loss_reason(text) in {"keepalive", "broker_disconnect", "closed", "network",
                                 "protocol"}


def test_transport_stats() -> None:
    from a2a_mqtt.observability.transport import TransportMetrics

    metrics = Metrics(service="t")
    stats = TransportMetrics(metrics, client_id="o/u/a")
    stats.connected(again=False, away=None)
    stats.lost("keepalive timeout: no PINGRESP")
    stats.connected(again=True, away=2.5)
    for seconds in (0.001, None):
        stats.publish_started()
        stats.publish_done(seconds)
    stats.published_qos0()
    stats.received()
    total = {name: sum(_values(metrics, name).values()) for name in (
        "messaging_client_connects_total", "messaging_client_reconnects_total",
        "messaging_client_disconnects_total", "messaging_client_queue_depth",
        "messaging_publish_duration_seconds_count",
        "messaging_client_disconnected_duration_seconds_count")}
    assert total == {"messaging_client_connects_total": 2,
                     "messaging_client_reconnects_total": 1,
                     "messaging_client_disconnects_total": 1,
                     "messaging_client_queue_depth": 0,
                     "messaging_publish_duration_seconds_count": 1,
                     "messaging_client_disconnected_duration_seconds_count": 1}
    lost = _values(metrics, "messaging_client_disconnects_total")
    assert [dict(k)["a2a_reason"] for k in lost] == ["keepalive"]
    messages = {dict(k)["messaging_direction"]: v
                for k, v in _values(metrics, "messaging_client_messages_total").items()}
    assert messages == {"out": 3, "in": 1}
