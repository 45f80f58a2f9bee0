"""The metrics process (observability/metricsproc.py): exact across the boundary, robust
against hostile input, and never the service's downfall (real processes, real pipes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.observability import metricschild
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.metrics import Metrics
from a2a_mqtt.observability.metricsrecord import BATCH
from a2a_mqtt.observability.metricswire import HEADER, control
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.host import AgentHost
from tests.behaviour.conftest import requester_config
from tests.behaviour.observability.otlp import metrics_receiver
from tests.behaviour.observability.scrape import Scrape, parse, scrape

SRC = str(Path(__file__).resolve().parents[3] / "src")
HERE = ObservabilityConfig(metrics_process=False)
DURATION_KEYS = [("o/u/a", "a2a", "SendMessage", "ok"), ("o/u/a", "a2a", "GetTask", "error"),
                 ("o/u/b", "a2a", "other", "no_reply")]


@pytest.fixture
def own_channel() -> Iterator[None]:
    """A metrics process of the test's own: whatever the test does to it, the session's
    channel is back afterwards."""
    saved = metricschild._current.channel
    metricschild._current.channel = None
    try:
        yield
    finally:
        found = metricschild._current.channel
        if found is not None:
            found.close()
        metricschild._current.channel = saved


def _numbers(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample but the resource's (target_info names the same service)."""
    return {(name, tuple(sorted(labels.items()))): value
            for name, labels, value in parse(metrics.render()[0].decode()).samples
            if name != "target_info"}


# -- exactness ---------------------------------------------------------------------

STEPS = st.lists(st.one_of(
    st.tuples(st.just("hist"), st.integers(0, len(DURATION_KEYS) - 1),
              st.floats(0, 400, allow_nan=False)),
    st.tuples(st.just("slot"), st.integers(0, 1), st.floats(0, 2, allow_nan=False)),
    st.tuples(st.just("sum"), st.integers(0, 1), st.integers(-3, 5))),
    max_size=2 * BATCH + 9)


@settings(deadline=None, max_examples=30)  # two Metrics per example, one across a pipe
@given(first=STEPS, second=STEPS)
def test_the_process_gives_the_numbers_recording_here_gives(
        first: list[tuple[str, int, float]], second: list[tuple[str, int, float]]) -> None:
    there, here = Metrics(service="t"), Metrics(service="t", config=HERE)
    assert there.process_pid is not None
    assert here.process_pid is None
    depth = {"v": 0.0}
    for m in (there, here):
        m.gauge(N.GATEWAY_AGENTS, lambda: [((), depth["v"])])
    for steps in (first, second):  # two collections: everything is cumulative
        for kind, index, value in steps:
            for m in (there, here):
                if kind == "hist":
                    m.histogram(N.SERVER_DURATION).record(DURATION_KEYS[index], value)
                elif kind == "slot":
                    m.histogram(N.SERVER_SLOT_WAIT).record((f"a{index}",), value)
                else:
                    m.sum(N.SERVER_IN_FLIGHT).add((f"a{index}", "a2a", "GetTask"), value)
            depth["v"] += 1
        assert _numbers(there) == _numbers(here)


# -- the process alone, fed by hand ---------------------------------------------------

def _child() -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-m", "a2a_mqtt.observability.metricsproc"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _answer(proc: subprocess.Popen[bytes]) -> bytes:
    assert proc.stdout is not None
    (size,) = HEADER.unpack(proc.stdout.read(HEADER.size))
    return proc.stdout.read(size)


def _frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def test_hostile_frames_are_reported_and_skipped() -> None:
    with _child() as proc:
        _hostile(proc)


def _hostile(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"".join([
        _frame(b"J{not json"), _frame(b'J{"op": "exec", "code": "boom"}'),
        _frame(b"H\x00\x00\x00\x07\x00\x00\x00\x01" + bytes(8)),  # an unknown key
        _frame(b"H\x00\x00"),  # a record cut short
        control("render", m=99),  # a service it does not know: answered, not hung
        control("new", m=1, service="x", instance="", version="0", otlp=None),
        control("inst", m=1, name="c", kind="counter", unit="1", description="d",
                attributes=["k"], role="obs"),
        control("snap", m=1, values={"c": [[["v"], 3]]}),
        control("render", m=1)]))
    proc.stdin.flush()
    failed = _answer(proc)
    assert failed[:1] == b"1"
    assert b"KeyError" in failed
    text = _answer(proc)
    assert text[:1] == b"0"
    assert 'c_total{k="v",' in text.decode()
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert proc.stderr is not None
    errors = proc.stderr.read().decode()
    for reason in ("not JSON", "known op", "unknown key 7", "cut short"):
        assert reason in errors, errors


@pytest.mark.parametrize(("tail", "reason"), [
    (HEADER.pack(100) + b"J{", "end of input"),  # the service died mid-write
    (HEADER.pack(1 << 30), "at most"),  # no frame of ours
])
def test_a_stream_no_longer_framed_ends_the_process_loudly(tail: bytes, reason: str) -> None:
    with _child() as proc:
        assert proc.stdin is not None
        proc.stdin.write(control("new", m=1, service="x", instance="", version="0",
                                 otlp=None) + tail)
        proc.stdin.close()
        assert proc.wait(timeout=30) == 3
        assert proc.stderr is not None
        errors = proc.stderr.read().decode()
    assert "the pipe is corrupt" in errors
    assert reason in errors


# -- the service's side: failures never cost it more than the process's figures --------

def _wait_gone(pid: int) -> None:
    """Until ``pid`` has ended (a pidfd: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], 30)[0], f"process {pid} is still running"
    finally:
        os.close(fd)


@pytest.mark.asyncio
@pytest.mark.usefixtures("own_channel")
async def test_a_killed_process_leaves_the_service_serving_and_counting(
        broker: MosquittoProcess, ref: AgentRef, caplog: pytest.LogCaptureFixture) -> None:
    config = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), session_expiry=0)
    async with (AgentHost([config], observability=ObservabilityConfig(http_port=0)) as host,
                A2AMqttClient(requester_config(broker.url)) as client,
                httpx.AsyncClient(timeout=20.0) as http):
        assert host.metrics is not None
        assert host.metrics_url is not None
        pid = host.metrics.process_pid
        assert pid is not None

        async def call() -> None:
            await client.requester.call(ref, "SendMessage", {"message": {
                "messageId": str(uuid.uuid4()), "taskId": str(uuid.uuid4()),
                "role": "ROLE_USER", "parts": [{"text": "hi"}]}})

        for _ in range(3):
            await call()
        before = await scrape(http, host.metrics_url)
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)
        with caplog.at_level(logging.WARNING, "a2a_mqtt.observability"):
            for _ in range(2 * BATCH // 2 + 1):  # enough to hand a batch over
                await call()
            after = await scrape(http, host.metrics_url)
            again = await scrape(http, host.metrics_url)
        assert host.metrics.process_pid is None
        warnings = [r for r in caplog.records if "metrics process failed" in r.getMessage()]
        assert len(warnings) == 1
        name = N.prometheus_name(N.SERVER_REQUESTS)
        total = 3 + 2 * BATCH // 2 + 1
        assert before.value(name, rpc_method="SendMessage") == 3
        # Sums live in the service: exact across the failure.
        assert after.value(name, rpc_method="SendMessage") == total
        assert again.value(name, rpc_method="SendMessage") == total
        # Histograms: what the process held is lost, what came after is counted here.
        count = _hist_count(again)
        assert 0 < count <= total


def _hist_count(s: Scrape) -> float:
    return s.value(N.prometheus_name(N.SERVER_DURATION) + "_count", rpc_method="SendMessage")


@pytest.mark.usefixtures("own_channel")
def test_no_process_at_all_records_here_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with caplog.at_level(logging.WARNING, "a2a_mqtt.observability"):
        metrics = Metrics(service="t")
    assert metrics.process_pid is None
    assert [r.getMessage() for r in caplog.records
            if "metrics process did not start" in r.getMessage()]
    metrics.histogram(N.SERVER_SLOT_WAIT).record(("a",), 0.5)
    text = metrics.render()[0].decode()
    assert 'a2a_mqtt_server_slot_wait_duration_seconds_sum{a2a_agent="a"' in text


def test_the_process_ends_with_its_service_and_sees_no_secret() -> None:
    """A service killed outright (no exit handlers) takes its metrics process along;
    the push's headers reach it through the pipe, never its command line."""
    script = textwrap.dedent("""
        import sys
        from a2a_mqtt.observability.config import ObservabilityConfig
        from a2a_mqtt.observability.metrics import Metrics
        m = Metrics(service="t", config=ObservabilityConfig(
            otlp_endpoint="http://127.0.0.1:9/v1/metrics", otlp_interval=3600,
            otlp_headers=(("x-api-key", "secret-123"),)))
        m.render()
        print(m.process_pid, flush=True)
        sys.stdin.read()
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": SRC}) as service:
        assert service.stdout is not None
        pid = int(service.stdout.readline())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        assert b"metricsproc" in cmdline
        assert b"secret-123" not in cmdline
        service.kill()
        service.wait(timeout=30)
    _wait_gone(pid)


@pytest.mark.usefixtures("own_channel")
def test_a_hung_process_is_given_up_within_its_timeout(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A metrics process that stops answering (SIGSTOP) costs a scrape its timeout once,
    then is killed; the figures come from this process from then on."""
    monkeypatch.setattr(metricschild, "ANSWER_TIMEOUT", 0.5)
    metrics = Metrics(service="t")
    requests = metrics.sum(N.SERVER_REQUESTS)
    requests.add(("a", "a2a", "GetTask", "ok", ""), 2)
    metrics.render()
    pid = metrics.process_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, "a2a_mqtt.observability"):
            text = metrics.render()[0].decode()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    _wait_gone(pid)  # killed, not left stopped
    assert metrics.process_pid is None
    assert "did not answer in time" in caplog.text
    # The sums live here: the render the process could not give is given here, whole.
    assert parse(text).value(N.prometheus_name(N.SERVER_REQUESTS), a2a_agent="a") == 2


@pytest.mark.asyncio
async def test_stopping_a_push_sends_everything_and_leaves_a_usable_render() -> None:
    """The last push (at shutdown) carries what was recorded just before it; a render
    after the stop still answers, from this process."""
    counts: list[int] = []

    def receiver(request: ExportMetricsServiceRequest, _headers: dict[str, str]) -> None:
        counts.extend(p.count for rm in request.resource_metrics for sm in rm.scope_metrics
                      for m in sm.metrics if m.name == N.SERVER_SLOT_WAIT.name
                      for p in m.histogram.data_points)

    async with metrics_receiver(receiver) as url:
        metrics = Metrics(service="agent", config=ObservabilityConfig(
            otlp_endpoint=f"{url}/v1/metrics", otlp_interval=3600))  # no tick: the stop
        assert metrics.process_pid is not None
        for _ in range(3):
            metrics.histogram(N.SERVER_SLOT_WAIT).record(("a",), 0.01)
        await asyncio.to_thread(metrics.shutdown)
    assert counts == [3]
    assert metrics.process_pid is None
    text = metrics.render()[0].decode()
    assert "target_info" in text
