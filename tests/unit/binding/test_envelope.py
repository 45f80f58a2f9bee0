"""JSON-RPC 2.0 envelopes (docs/binding.md §6.1, §6.2, §7.3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)

from a2a_mqtt.binding.envelope import (
    METHODS,
    STREAMING_METHODS,
    RpcRequest,
    RpcResponse,
    dumps,
    encode_error,
    encode_request,
    encode_result,
    parse_params,
    parse_request,
    parse_response,
)
from a2a_mqtt.errors import ProtocolError, RemoteProtocolError

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602


def request(**fields: Any) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": "r1", "method": "GetTask",
                            "params": {"id": "t"}}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def rejected(payload: bytes, **kwargs: Any) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(payload, **kwargs)
    return info.value


# -- method table ----------------------------------------------------------------------------

def test_methods_are_the_eleven_a2a_operations() -> None:
    expected = {
        "SendMessage": SendMessageRequest,
        "SendStreamingMessage": SendMessageRequest,
        "GetTask": GetTaskRequest,
        "ListTasks": ListTasksRequest,
        "CancelTask": CancelTaskRequest,
        "SubscribeToTask": SubscribeToTaskRequest,
        "CreateTaskPushNotificationConfig": TaskPushNotificationConfig,
        "GetTaskPushNotificationConfig": GetTaskPushNotificationConfigRequest,
        "ListTaskPushNotificationConfigs": ListTaskPushNotificationConfigsRequest,
        "DeleteTaskPushNotificationConfig": DeleteTaskPushNotificationConfigRequest,
        "GetExtendedAgentCard": GetExtendedAgentCardRequest,
    }
    assert expected == METHODS


def test_streaming_methods() -> None:
    expected = {"SendStreamingMessage", "SubscribeToTask"}
    assert expected == STREAMING_METHODS
    assert set(METHODS) >= STREAMING_METHODS


# -- dumps -----------------------------------------------------------------------------------

def test_dumps_is_compact_utf8() -> None:
    assert dumps({"a": [1, 2], "b": "é✓"}) == '{"a":[1,2],"b":"é✓"}'.encode()


# -- parse_request: accepted -----------------------------------------------------------------

@pytest.mark.parametrize("rid", ["r1", "", 0, 7, -3, 2**63, None])
def test_valid_ids_are_echoed(rid: object) -> None:
    parsed = parse_request(request(id=rid))
    assert parsed == RpcRequest(id=rid, method="GetTask", params={"id": "t"})  # type: ignore[arg-type]


def test_absent_id_is_null() -> None:
    assert parse_request(request(id=...)).id is None


def test_absent_params_is_an_empty_object() -> None:
    assert parse_request(request(params=...)).params == {}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_is_accepted(method: str) -> None:
    assert parse_request(request(method=method, params={})).method == method


def test_payload_at_the_limit_is_accepted() -> None:
    payload = request()
    assert parse_request(payload, max_bytes=len(payload)).id == "r1"


# -- parse_request: rejected -----------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b"", b"not json", b"{", b'{"jsonrpc":"2.0",}', b"\x00",
    b'{"jsonrpc":"2.0","id":"\xc3\x28","method":"GetTask"}',   # invalid UTF-8
    b"\xff\xfe\xfd",
])
def test_non_json_or_non_utf8_is_a_parse_error(payload: bytes) -> None:
    error = rejected(payload)
    assert error.code == PARSE_ERROR
    assert error.data is None


@pytest.mark.parametrize("payload", [
    b"[]",
    b'[{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t"}}]',
    b'"SendMessage"', b"42", b"null", b"true",
])
def test_batches_and_non_objects_are_invalid_requests(payload: bytes) -> None:
    error = rejected(payload)
    assert error.code == INVALID_REQUEST
    assert error.data is None


@pytest.mark.parametrize("version", ["1.0", "2", 2.0, None, ...])
def test_wrong_jsonrpc_version_is_invalid_request_with_the_id(version: object) -> None:
    error = rejected(request(jsonrpc=version, id=5))
    assert error.code == INVALID_REQUEST
    assert error.data == 5


@pytest.mark.parametrize("rid", [True, False, 1.5, {"a": 1}, [1]])
def test_bad_id_types_are_invalid_requests_without_an_id(rid: object) -> None:
    error = rejected(request(id=rid))
    assert error.code == INVALID_REQUEST
    assert error.data is None


@pytest.mark.parametrize("method", [..., "", None, 5, ["GetTask"]])
def test_missing_or_non_string_method_is_invalid_request(method: object) -> None:
    error = rejected(request(method=method))
    assert error.code == INVALID_REQUEST
    assert error.data == "r1"


@pytest.mark.parametrize("method", ["tasks/send", "message/send", "sendMessage", "GETTASK",
                                    "GetTask ", "Unknown"])
def test_unknown_method_is_method_not_found(method: str) -> None:
    error = rejected(request(method=method))
    assert error.code == METHOD_NOT_FOUND
    assert error.data == "r1"
    assert method in error.message


@pytest.mark.parametrize("params", [None, [], ["t"], "t", 1, True])
def test_non_object_params_are_invalid_params(params: object) -> None:
    error = rejected(request(params=params))
    assert error.code == INVALID_PARAMS
    assert error.data == "r1"


def test_oversized_payload_is_invalid_request_before_parsing() -> None:
    error = rejected(b"x" * 11, max_bytes=10)   # not JSON either: size wins
    assert error.code == INVALID_REQUEST
    assert "10" in error.message


def test_errors_are_remote_protocol_errors() -> None:
    error = rejected(b"nope")
    assert isinstance(error, ProtocolError)
    assert error.message in str(error)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_non_utf8_json_is_a_parse_error(encoding: str) -> None:
    text = request().decode()
    assert rejected(text.encode(encoding)).code == PARSE_ERROR


# -- parse_params ----------------------------------------------------------------------------

def test_parse_params_decodes_protojson() -> None:
    parsed = parse_request(request(method="SendMessage", params={
        "message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}],
                    "taskId": "t1", "contextId": "c1"},
        "configuration": {"returnImmediately": True},
        "unknownField": {"ignored": True},
    }))
    message = parse_params(parsed)
    assert isinstance(message, SendMessageRequest)
    assert message.message.message_id == "m1"
    assert message.message.role == Role.ROLE_USER
    assert message.message.parts[0].text == "hi"
    assert message.message.task_id == "t1"
    assert message.configuration.return_immediately is True


@pytest.mark.parametrize("method", sorted(METHODS))
def test_parse_params_gives_the_methods_message_type(method: str) -> None:
    assert type(parse_params(RpcRequest(id=1, method=method, params={}))) is METHODS[method]


def test_parse_params_accepts_snake_case_names() -> None:
    parsed = parse_params(RpcRequest(id=1, method="GetTask",
                                     params={"id": "t", "history_length": 3}))
    assert isinstance(parsed, GetTaskRequest)
    assert parsed.history_length == 3


@pytest.mark.parametrize(("method", "params"), [
    ("GetTask", {"id": 5}),
    ("GetTask", {"id": {"nested": 1}}),
    ("GetTask", {"historyLength": "many"}),
    ("SendMessage", {"message": {"parts": {"text": "not a list"}}}),
    ("SendMessage", {"message": {"parts": "not a list"}}),
    ("ListTasks", {"pageSize": 1.5}),
])
def test_parse_params_rejects_undecodable_params(method: str, params: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_params(RpcRequest(id="r9", method=method, params=params))
    assert info.value.code == INVALID_PARAMS
    assert info.value.data == "r9"
    assert method in info.value.message


def test_utf8_bom_is_a_parse_error() -> None:
    assert rejected(request().decode().encode("utf-8-sig")).code == PARSE_ERROR


@pytest.mark.parametrize(("params", "where"), [
    ({"message": 5}, "params.message"),
    ({"message": {"parts": ["x"]}}, "params.message.parts[0]"),
    ({"message": {"parts": [{"text": "ok"}, 7]}}, "params.message.parts[1]"),
    ({"configuration": {"taskPushNotificationConfig": []}},
     "params.configuration.taskPushNotificationConfig"),
    ({"configuration": "fast"}, "params.configuration"),
])
def test_parse_params_names_the_misshapen_field(params: dict[str, Any], where: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_params(RpcRequest(id=1, method="SendMessage", params=params))
    assert info.value.code == INVALID_PARAMS
    assert where in info.value.message


@pytest.mark.parametrize("params", [
    {"message": None},                                     # null: the field is unset
    {"message": {"unknownNested": [1, "x"]}},              # unknown keys stay allowed
    {"message": {"metadata": {"any": ["json", 1]}}},       # Struct: plain JSON
    {"message": {"parts": [{"data": [1, 2]}]}},            # Value: any JSON
])
def test_parse_params_shape_check_leaves_valid_protojson_alone(params: dict[str, Any]) -> None:
    assert isinstance(parse_params(RpcRequest(id=1, method="SendMessage", params=params)),
                      SendMessageRequest)


@pytest.mark.parametrize("value", ["hello", [], ["x"]])
def test_parse_params_rejects_a_non_object_for_a_message_field(value: object) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_params(RpcRequest(id=1, method="SendMessage", params={"message": value}))
    assert info.value.code == INVALID_PARAMS


# -- encoders and parse_response -------------------------------------------------------------

def test_encode_request_round_trips() -> None:
    payload = encode_request("GetTask", {"id": "t"}, "abc")
    assert json.loads(payload) == {"jsonrpc": "2.0", "id": "abc", "method": "GetTask",
                                   "params": {"id": "t"}}
    assert parse_request(payload) == RpcRequest(id="abc", method="GetTask", params={"id": "t"})


@pytest.mark.parametrize("result", [{"task": {"id": "t"}}, {}, None, [1], "x"])
def test_encode_result_round_trips(result: object) -> None:
    payload = encode_result(7, result)
    assert json.loads(payload) == {"jsonrpc": "2.0", "id": 7, "result": result}
    assert parse_response(payload) == RpcResponse(id=7, result=result)


def test_encode_error_round_trips() -> None:
    error = {"code": -32001, "message": "Task not found", "data": []}
    payload = encode_error(None, error)
    assert json.loads(payload) == {"jsonrpc": "2.0", "id": None, "error": error}
    assert parse_response(payload) == RpcResponse(id=None, error=error)


def test_parse_response_prefers_a_non_null_error() -> None:
    assert parse_response(b'{"jsonrpc":"2.0","id":1,"error":null,"result":{"a":1}}') == (
        RpcResponse(id=1, result={"a": 1}))
    both = parse_response(b'{"jsonrpc":"2.0","id":1,"error":{"code":1},"result":{}}')
    assert both.error == {"code": 1}


@pytest.mark.parametrize("rid", [True, 1.5, {"x": 1}])
def test_parse_response_drops_invalid_ids(rid: object) -> None:
    payload = json.dumps({"jsonrpc": "2.0", "id": rid, "result": {}}).encode()
    assert parse_response(payload).id is None


def test_parse_response_tolerates_v01_ids() -> None:
    # The EMQX SDK puts the Correlation Data string in the id of its error replies.
    payload = b'{"jsonrpc":"2.0","id":"corr-1","error":{"code":-32005,"message":"m"}}'
    assert parse_response(payload).id == "corr-1"


@pytest.mark.parametrize(("payload", "code"), [
    (b"not json", PARSE_ERROR),
    ('{"jsonrpc":"2.0","id":1,"result":{}}'.encode("utf-16"), PARSE_ERROR),
    (b"\xc3\x28", PARSE_ERROR),
    (b"[]", INVALID_REQUEST),
    (b'"x"', INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1}', INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1,"error":null}', INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1,"error":"boom"}', INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1,"error":[1]}', INVALID_REQUEST),
])
def test_parse_response_rejects_malformed_replies(payload: bytes, code: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_response(payload)
    assert info.value.code == code


@pytest.mark.parametrize(("payload", "code", "rid"), [
    (b'{"jsonrpc":"2.0","id":"\\ud800","method":"GetTask","params":{}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":"\\ud800","method":"GetTask","params":{"id":"\\udc00"}}', -32700,
     None),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"id":"\\udc00"}}', -32602, 3),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"\\ud800":1}}', -32602, 3),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"id":"a\\u0000"}}', -32602, 3),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask\\u0000","params":{}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"id":NaN}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"id":-Infinity}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"h":1e400}}', -32700, None),
    (b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"GetTask"}', -32700, None),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"h":-9223372036854775809}}',
     -32700, None),
    (b'{"jsonrpc":"2.0","id":3,"method":"GetTask","params":{"x":' + b"[" * 63 + b"]" * 63
     + b"}}", -32700, None),
    (b"[" * 100_000 + b"]" * 100_000, -32700, None),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, -32700, None),
])
def test_unrepresentable_requests_are_refused_at_decode(payload: bytes, code: int,
                                                        rid: Any) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        parse_params(parse_request(payload))
    assert (err.value.code, err.value.data) == (code, rid)


@pytest.mark.parametrize("payload", [
    b'{"jsonrpc":"2.0","id":18446744073709551615,"method":"GetTask","params":{"id":"t"}}',
    b'{"jsonrpc":"2.0","id":-9223372036854775808,"method":"GetTask","params":{"id":"t"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"\\ud83d\\ude00 [[[{{{"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"x":' + b"[" * 61 + b"]" * 61 + b"}}",
])
def test_representable_edges_are_accepted(payload: bytes) -> None:
    parse_params(parse_request(payload))
