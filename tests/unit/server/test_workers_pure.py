"""Worker processes, the pure parts: which worker a request goes to (partition
dispatch) and the one exposition the supervisor serves for all workers."""

from __future__ import annotations

import collections
import uuid

import pytest
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.envelope import METHODS, encode_request
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.mqtt_types import IncomingMessage, PublishProperties
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.pooling import worker_of
from a2a_mqtt.server.workermetrics import WorkerView, merge_expositions


def message(corr: bytes | None, topic: str = "$a2a/v1/reply/a/b/c/d", *,
            payload: bytes = b"{}") -> IncomingMessage:
    return IncomingMessage(topic="$a2a/v1/request/o/u/a", payload=payload, qos=1, retain=False,
                           properties=PublishProperties(response_topic=topic,
                                                        correlation_data=corr))


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_every_copy_of_a_request_picks_the_same_worker_in_range(corr: bytes, n: int) -> None:
    first = worker_of(message(corr), n)
    assert 0 <= first < n
    assert worker_of(message(corr), n) == first  # each worker computes it alone


def test_requests_spread_evenly_over_the_workers() -> None:
    counts = collections.Counter(worker_of(message(uuid.uuid4().hex.encode()), 2)
                                 for _ in range(4000))
    assert set(counts) == {0, 1}
    assert abs(counts[0] - counts[1]) < 400  # within 10 %, as a random split would be


def test_without_correlation_data_the_response_topic_decides() -> None:
    a, b = message(None, "$a2a/v1/reply/a/b/c/1"), message(None, "$a2a/v1/reply/a/b/c/1")
    assert worker_of(a, 4) == worker_of(b, 4)


def naming(method: str, task_id: str, corr: bytes) -> IncomingMessage:
    params = ({"message": {"messageId": uuid.uuid4().hex, "taskId": task_id, "role": "ROLE_USER",
                           "parts": [{"text": "hi"}]}}
              if method.startswith("Send") else {"id": task_id})
    return message(corr, payload=encode_request(method, params, 1))


@given(st.uuids(), st.integers(min_value=2, max_value=16),
       st.lists(st.binary(min_size=1, max_size=16), min_size=2, max_size=6))
def test_every_request_naming_a_task_reaches_one_worker(task: uuid.UUID, n: int,
                                                        corrs: list[bytes]) -> None:
    """A task's turns, reads, cancels and subscriptions reach the worker that runs it,
    whatever their Correlation Data (what lets a worker run its tasks alone)."""
    methods = ["SendMessage", "SendStreamingMessage", "GetTask", "CancelTask",
               "SubscribeToTask"]
    picked = {worker_of(naming(m, str(task), c), n) for m in methods for c in corrs}
    assert len(picked) == 1


def binary_naming(method: str, task_id: str, corr: bytes) -> IncomingMessage:
    """The same request as :func:`naming`, as binary protobuf (docs/binding.md §3.4)."""
    params = (SendMessageRequest(message=Message(message_id=uuid.uuid4().hex, task_id=task_id,
                                                 role=Role.ROLE_USER, parts=[Part(text="hi")]))
              if method.startswith("Send") else METHODS[method](id=task_id))
    return IncomingMessage(
        topic="$a2a/v1/request/o/u/a", payload=protobin.encode(params), qos=1, retain=False,
        properties=PublishProperties(response_topic="$a2a/v1/reply/a/b/c/d",
                                     correlation_data=corr, content_type=protobin.CONTENT_TYPE,
                                     user_properties=(("a2a-method", method),)))


@given(st.uuids(), st.integers(min_value=2, max_value=16),
       st.lists(st.binary(min_size=1, max_size=16), min_size=1, max_size=4))
def test_binary_and_json_requests_naming_a_task_reach_the_same_worker(
        task: uuid.UUID, n: int, corrs: list[bytes]) -> None:
    methods = ["SendMessage", "SendStreamingMessage", "GetTask", "CancelTask",
               "SubscribeToTask"]
    picked = {worker_of(build(m, str(task), c), n) for m in methods for c in corrs
              for build in (naming, binary_naming)}
    assert len(picked) == 1


def test_tasks_spread_evenly_and_requests_naming_none_go_by_correlation() -> None:
    counts = collections.Counter(
        worker_of(naming("SendMessage", str(uuid.uuid4()), b"same"), 2) for _ in range(4000))
    assert abs(counts[0] - counts[1]) < 400
    listing = encode_request("ListTasks", {}, 1)
    by_corr = {worker_of(message(c, payload=listing), 2)
               for c in (b"a", b"b", b"c", b"d", b"e", b"f")}
    assert by_corr == {0, 1}


def test_a_payload_over_the_limit_is_not_read_for_routing() -> None:
    tid = str(uuid.uuid4())
    owner = worker_of(naming("GetTask", tid, b"x"), 64)
    far = [c for c in (bytes([i]) for i in range(256))
           if worker_of(message(c), 64) != owner]
    big = naming("GetTask", tid, far[0])
    assert worker_of(big, 64) == owner
    assert worker_of(big, 64, max_bytes=len(big.payload) - 1) == worker_of(message(far[0]), 64)


def exposition(served: float, seconds: list[float]) -> str:
    registry = CollectorRegistry()
    requests = Counter("rpc_server_requests", "Requests", ["a2a_agent"], registry=registry)
    requests.labels("o/u/a").inc(served)
    duration = Histogram("rpc_server_call_duration_seconds", "Time", registry=registry,
                         buckets=(0.01, 0.1, 1.0))
    for s in seconds:
        duration.observe(s)
    return generate_latest(registry).decode()


def views(n: int, *, dead: int | None = None) -> list[WorkerView]:
    return [WorkerView(index=i, alive=i != dead, ready=True, restarts=3 if i == dead else 0,
                       url="") for i in range(n)]


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=5),
       st.lists(st.floats(min_value=0, max_value=5), max_size=20))
def test_merged_exposition_keeps_every_workers_samples_apart(
        served: list[int], seconds: list[float]) -> None:
    texts = {i: exposition(float(v), seconds) for i, v in enumerate(served)}
    merged = merge_expositions(texts, views(len(served))).decode()
    families = {f.name: f for f in text_string_to_metric_families(merged)}  # valid text
    totals = {s.labels["worker"]: s.value for s in families["rpc_server_requests"].samples
              if s.name == "rpc_server_requests_total"}
    assert totals == {str(i): float(v) for i, v in enumerate(served)}
    counts = [s for s in families["rpc_server_call_duration_seconds"].samples
              if s.name.endswith("_count")]
    assert sorted(s.labels["worker"] for s in counts) == [str(i) for i in range(len(served))]
    assert all(s.value == len(seconds) for s in counts)


def test_the_supervisor_says_which_workers_are_up_and_how_often_they_restarted() -> None:
    merged = merge_expositions({0: exposition(1, [])}, views(2, dead=1)).decode()
    families = {f.name: f for f in text_string_to_metric_families(merged)}
    up = {s.labels["worker"]: s.value for s in families["a2a_mqtt_worker_up"].samples}
    restarts = {s.labels["worker"]: s.value
                for s in families["a2a_mqtt_worker_restarts"].samples
                if s.name.endswith("_total")}
    assert up == {"0": 1.0, "1": 0.0}
    assert restarts == {"0": 0.0, "1": 3.0}


def test_worker_settings_are_checked() -> None:
    def config(**worker: object) -> AgentConfig:
        return AgentConfig(ref=AgentRef("o", "u", "a"), card=echo_card(),
                           executor=EchoExecutor(), task_store_url="sqlite:///x.db",
                           **worker)  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match="worker_count"):
        config(worker=2, worker_count=2)
    with pytest.raises(ConfigError, match="worker_dispatch"):
        config(worker=0, worker_count=2, worker_dispatch="random")
    assert config(worker=1, worker_count=2).client_id == "o/u/a.w1"


def test_partition_workers_run_their_tasks_alone_the_other_modes_share_them() -> None:
    def config(**worker: object) -> AgentConfig:
        return AgentConfig(ref=AgentRef("o", "u", "a"), card=echo_card(),
                           executor=EchoExecutor(), task_store_url="sqlite:///x.db",
                           **worker)  # type: ignore[arg-type]

    assert config().runs_tasks_alone
    assert config(worker=0, worker_count=2).runs_tasks_alone
    assert not config(worker=0, worker_count=2, worker_dispatch="claim").runs_tasks_alone
    assert not config(worker=0, worker_count=2, worker_dispatch="shared").runs_tasks_alone
    assert not config(pool="p").runs_tasks_alone
