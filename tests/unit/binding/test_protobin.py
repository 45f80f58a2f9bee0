"""Binary protobuf payloads (binding/protobin.py): round trips, the JSON path's verdicts,
and garbage bytes. Bounded and derandomised, as the other decoder tests."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from a2a.types import a2a_pb2
from a2a.types.a2a_pb2 import (
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message as ProtoMessage
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.envelope import (
    METHODS,
    encode_request,
    encode_result,
    parse_params,
    parse_request,
    parse_response,
    task_named,
)
from a2a_mqtt.binding.stream import is_final_result, is_terminal_result
from a2a_mqtt.errors import RemoteProtocolError

FUZZ = settings(derandomize=True, max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
TASK_ID = "3f2b8c1e-6a4d-4e1f-9b7a-2c5d8e0f1a2b"


def send(text: str = "hi", **metadata: Any) -> SendMessageRequest:
    request = SendMessageRequest(message=Message(
        message_id="m1", role=Role.ROLE_USER, parts=[Part(text=text)], task_id=TASK_ID,
        context_id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"))
    if metadata:
        request.metadata.update(metadata)
    return request


def code_of(call: Any) -> int | None:
    try:
        call()
    except RemoteProtocolError as exc:
        return exc.code
    return None


def json_verdict(method: str, params: ProtoMessage) -> tuple[int | None, ProtoMessage | None]:
    """What the JSON path makes of the same request: (error code, decoded params)."""
    try:
        payload = encode_request(method, MessageToDict(params), "r1")
    except ValueError:  # NaN and infinity: JSON cannot carry them at all
        return -32700, None
    try:
        return None, parse_params(parse_request(payload))
    except RemoteProtocolError as exc:
        return exc.code, None


def binary_verdict(method: str, params: ProtoMessage) -> tuple[int | None, ProtoMessage | None]:
    try:
        return None, protobin.decode_request(method, protobin.encode(params))[1]
    except RemoteProtocolError as exc:
        return exc.code, None


# -- properties ----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("application/protobuf", True), ("Application/ProtoBuf; proto=lf.a2a.v1.Task", True),
    (" application/protobuf ", True), ("application/json", False), (None, False), ("", False),
    ("application/x-protobuf", False), ("application/protobuf+json", False),
])
def test_content_type(value: str | None, expected: bool) -> None:
    assert protobin.is_protobuf(value) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("application/protobuf", True), ("application/json, application/protobuf", True),
    ("application/json", False), (None, False), ("", False), (",,", False),
])
def test_accept_lists(value: str | None, expected: bool) -> None:
    assert protobin.accepts(value) is expected


def test_result_types_are_the_grpc_services_outputs() -> None:
    service = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"]
    outputs = {m.name: m.output_type.full_name for m in service.methods}
    inputs = {m.name: m.input_type.full_name for m in service.methods}
    assert {k: v.DESCRIPTOR.full_name for k, v in protobin.RESULT_TYPES.items()} == outputs
    assert {k: v.DESCRIPTOR.full_name for k, v in METHODS.items()} == inputs


# -- requests ------------------------------------------------------------------------

def test_request_round_trip_drops_unknown_fields() -> None:
    request = send("inspect line 4", shift="night")
    unknown = b"\xa8\x1f\x07"  # field 501, varint 7: unknown to the schema
    method, params = protobin.decode_request("SendMessage", protobin.encode(request) + unknown)
    assert method == "SendMessage" and params == request
    assert params.SerializeToString() == request.SerializeToString()


@pytest.mark.parametrize(("method", "payload", "code"), [
    (None, b"", -32600),
    ("", b"", -32600),
    ("tasks/get", b"", -32601),
    ("GetTask", b"\x0a\x05ab", -32700),  # truncated string
    ("GetTask", b"\xff\xff\xff", -32700),  # not a wire format
    ("GetTask", b"\x0a\x03a\xffb", -32700),  # invalid UTF-8 in a string field
    ("GetTask", b"\x0a\x06\xed\xa0\x80abc", -32700),  # a surrogate, UTF-8 encoded
    ("GetTask", b"\x0a\x01" + b"\x00", -32602),  # U+0000 in the id, as JSON's -32602
    ("GetTask", b"\x0a" + b"\x80" * 11, -32700),  # an overlong varint
])
def test_bad_requests_get_the_json_rpc_code(method: str | None, payload: bytes,
                                            code: int) -> None:
    assert code_of(lambda: protobin.decode_request(method, payload)) == code


def test_size_limit_comes_first() -> None:
    assert code_of(lambda: protobin.decode_request(
        "nope", b"x" * 101, max_bytes=100)) == -32600


def test_non_finite_and_deep_metadata_are_refused_as_in_json() -> None:
    assert code_of(lambda: protobin.decode_request(
        "SendMessage", protobin.encode(send(x=math.nan)))) == -32700
    assert code_of(lambda: protobin.decode_request(
        "SendMessage", protobin.encode(send(x=-math.inf)))) == -32700


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=4),
       st.sampled_from(["metadata", "data", "list"]))
@example([0x7FF0000000000000], "metadata")  # infinity
@example([0xFFF0000000000000], "data")  # -infinity
@example([0x7FF8000000000001], "list")  # a NaN with a payload
@example([0xFFFFFFFFFFFFFFFF], "metadata")  # a NaN without a zero byte
@example([0x7FEFFFFFFFFFFFFF, 0x0000000000000001], "metadata")  # largest, smallest finite
@FUZZ
def test_every_non_finite_double_is_found(bit_patterns: list[int], where: str) -> None:
    """Any NaN (whatever its payload bits) or infinity, wherever free-form JSON sits,
    is refused as JSON refuses it; every finite double passes (the byte gate is exact
    on the side that matters: it never misses one)."""
    numbers = [struct.unpack("<d", struct.pack("<Q", bits))[0] for bits in bit_patterns]
    request = send()
    if where == "metadata":
        request.metadata.update({f"k{i}": n for i, n in enumerate(numbers)})
    elif where == "data":
        request.message.parts.add().data.struct_value.update({"n": numbers[0]})
    else:
        request.message.metadata.update({"l": [{"x": n} for n in numbers]})
    code = code_of(lambda: protobin.decode_request("SendMessage", protobin.encode(request)))
    assert (code == -32700) is not all(math.isfinite(n) for n in numbers)
    assert code in (None, -32700)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1.0}
    for _ in range(depth):
        value = {"a": value}
    return value


def struct_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((struct_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((struct_depth(v) for v in value), default=0)
    return 0


BINARY_DEPTH = 31  # upb reads 100 message levels: Struct, map entry, Value per JSON level


def verdicts_agree(method: str, request: ProtoMessage) -> None:
    """The binary verdict is the JSON one, or -32700 for free-form JSON nested past
    what upb reads: the requester then sends the request again as JSON."""
    json_code, from_json = json_verdict(method, request)
    binary_code, from_binary = binary_verdict(method, request)
    if binary_code == json_code:
        assert from_binary == from_json
        return
    assert binary_code == -32700
    assert struct_depth(MessageToDict(request)) > BINARY_DEPTH - 2


@pytest.mark.parametrize("depth", [1, 10, 28, 29, 30, 31, 32, 33, 46, 47, 48, 60, 61, 62, 70])
def test_nesting_limits(depth: int) -> None:
    request = send(deep=nested(depth))
    verdicts_agree("SendMessage", request)
    assert (binary_verdict("SendMessage", request)[0] is None) is (depth <= BINARY_DEPTH)


@given(st.binary(max_size=300), st.sampled_from(sorted(METHODS)))
@FUZZ
def test_garbage_bytes_decode_or_get_a_clear_error(payload: bytes, method: str) -> None:
    code = code_of(lambda: protobin.decode_request(method, payload))
    if code is not None:
        assert code in (-32700, -32602)
        return
    _, params = protobin.decode_request(method, payload)
    # Accepted: the JSON path accepts the same request and reads the same message.
    assert json_verdict(method, params) == (None, params)


text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                      exclude_categories=("Cs",)), max_size=12)
struct_values = st.recursive(
    st.one_of(st.none(), st.booleans(), text,
              st.floats(allow_nan=False, allow_infinity=False, width=64)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(text, inner, max_size=3)),
    max_leaves=12)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, ProtoMessage]:
    method = draw(st.sampled_from(["SendMessage", "SendStreamingMessage", "GetTask",
                                   "CancelTask", "ListTasks"]))
    if method in ("SendMessage", "SendStreamingMessage"):
        request = SendMessageRequest(message=Message(
            message_id=draw(text), role=draw(st.sampled_from([0, 1, 2])),
            task_id=draw(st.sampled_from(["", TASK_ID, "not-a-uuid"])),
            parts=[Part(text=t) for t in draw(st.lists(text, max_size=3))]))
        for key, value in draw(st.dictionaries(text, struct_values, max_size=3)).items():
            request.metadata[key] = value
        if draw(st.booleans()):
            request.message.parts.add().data.struct_value.update(
                {"d": nested(draw(st.integers(min_value=0, max_value=66)))})
        if draw(st.booleans()):
            request.configuration.history_length = draw(st.integers(0, 2**31 - 1))
        return method, request
    if method == "ListTasks":
        return method, a2a_pb2.ListTasksRequest(context_id=draw(text),
                                                page_size=draw(st.integers(0, 100)))
    return method, METHODS[method](id=draw(text))


@given(requests())
@FUZZ
def test_binary_gives_the_json_paths_verdict(case: tuple[str, ProtoMessage]) -> None:
    verdicts_agree(*case)


# -- results -------------------------------------------------------------------------

def task(state: int = TaskState.TASK_STATE_COMPLETED) -> Task:
    out = Task(id=TASK_ID, context_id="c1")
    out.status.state = state  # type: ignore[assignment]
    out.status.timestamp.FromSeconds(1_700_000_000)
    out.history.append(send().message)
    out.artifacts.add(artifact_id="a", parts=[Part(text="done")])
    return out


def test_result_round_trip_equals_the_json_reading() -> None:
    response = SendMessageResponse(task=task())
    binary = protobin.decode_result("SendMessage", protobin.encode(response))
    from_json = parse_response(encode_result("r", MessageToDict(response))).result
    assert binary == response
    assert MessageToDict(binary) == from_json


def test_empty_stream_item_is_no_bytes() -> None:
    assert protobin.encode(StreamResponse()) == b""
    item = protobin.decode_result("SubscribeToTask", b"")
    assert isinstance(item, StreamResponse) and item.WhichOneof("payload") is None


@pytest.mark.parametrize("payload", [b"\x0a\x05ab", b"\xff", b"\x0a\x02\x12\x01\x00"])
def test_malformed_results_are_refused(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        protobin.decode_result("GetTask", payload)


def test_result_with_nul_is_refused_as_the_json_reader_does() -> None:
    bad = Task(id="a\x00b", context_id="c")
    with pytest.raises(RemoteProtocolError):
        parse_response(encode_result("r", MessageToDict(bad)))
    with pytest.raises(RemoteProtocolError):
        protobin.decode_result("GetTask", protobin.encode(bad))


def test_result_fit() -> None:
    good = SendMessageResponse(task=task())
    assert protobin.result_fit(good, protobin.encode(good)) == "binary"
    bad = SendMessageResponse(task=task())
    bad.task.metadata["x"] = math.inf
    assert protobin.result_fit(bad, protobin.encode(bad)) == "none"
    deep = SendMessageResponse(task=task())
    deep.task.metadata.update({"d": nested(40)})
    assert protobin.result_fit(deep, protobin.encode(deep)) == "json"
    with pytest.raises(RemoteProtocolError):
        protobin.decode_result("SendMessage", protobin.encode(deep))


def test_unknown_method_has_no_binary_result() -> None:
    with pytest.raises(RemoteProtocolError):
        protobin.decode_result("tasks/get", b"")


states = st.sampled_from([*TaskState.values(), 99])


@st.composite
def stream_items(draw: st.DrawFn) -> StreamResponse:
    kind = draw(st.sampled_from(["task", "message", "status_update", "artifact_update",
                                 "none"]))
    if kind == "task":
        return StreamResponse(task=task(draw(states)))
    if kind == "message":
        return StreamResponse(message=send().message)
    if kind == "status_update":
        update = TaskStatusUpdateEvent(task_id=TASK_ID, context_id="c")
        update.status.state = draw(states)
        return StreamResponse(status_update=update)
    if kind == "artifact_update":
        return StreamResponse(artifact_update=TaskArtifactUpdateEvent(task_id=TASK_ID))
    return StreamResponse()


@given(stream_items())
@FUZZ
def test_item_ends_as_the_json_rule(item: StreamResponse) -> None:
    as_json = MessageToDict(item)
    assert protobin.item_ends(item) is is_final_result(as_json)
    assert protobin.item_ends(item, until_terminal=True) is is_terminal_result(as_json)


# -- routing -------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "request_"), [
    ("SendMessage", send()), ("SendStreamingMessage", send()),
    ("GetTask", GetTaskRequest(id=TASK_ID)), ("CancelTask", a2a_pb2.CancelTaskRequest(id="x")),
    ("SubscribeToTask", a2a_pb2.SubscribeToTaskRequest(id="y")),
    ("CreateTaskPushNotificationConfig", a2a_pb2.TaskPushNotificationConfig(task_id="t")),
    ("GetTaskPushNotificationConfig", a2a_pb2.GetTaskPushNotificationConfigRequest(task_id="t")),
    ("ListTaskPushNotificationConfigs",
     a2a_pb2.ListTaskPushNotificationConfigsRequest(task_id="t")),
    ("DeleteTaskPushNotificationConfig",
     a2a_pb2.DeleteTaskPushNotificationConfigRequest(task_id="t")),
    ("ListTasks", a2a_pb2.ListTasksRequest(context_id="c")),
    ("GetExtendedAgentCard", a2a_pb2.GetExtendedAgentCardRequest()),
    ("GetTask", GetTaskRequest()),
])
def test_task_named_as_the_json_peek(method: str, request_: ProtoMessage) -> None:
    json_payload = encode_request(method, MessageToDict(request_), "r")
    assert protobin.task_named(method, protobin.encode(request_)) == task_named(json_payload)


@given(st.binary(max_size=100), st.sampled_from([*sorted(METHODS), "nope", None]))
@FUZZ
def test_task_named_never_raises(payload: bytes, method: str | None) -> None:
    found = protobin.task_named(method, payload)
    assert found is None or isinstance(found, str)
