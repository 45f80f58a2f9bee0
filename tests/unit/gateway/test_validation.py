"""Body validation: any bytes give a parsed request or a standard A2A error, nothing else."""

from __future__ import annotations

import json

import pytest
from a2a.types.a2a_pb2 import SendMessageRequest
from a2a.utils.errors import (
    InvalidParamsError,
    InvalidRequestError,
    JSONParseError,
    MethodNotFoundError,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.gateway.errors import refusal_jsonrpc_body, refusal_rest_body
from a2a_mqtt.gateway.validation import (
    MAX_JSON_DEPTH,
    MalformedRequest,
    check_jsonrpc,
    check_rest,
    load_json,
)
from tests.behaviour.gateway.hostile import jsonrpc_requests

BOUNDED = settings(derandomize=True, max_examples=300, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SEND = {"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": {"message": {
    "messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}}


def _refusal(body: bytes, *, rest: str | None = None) -> MalformedRequest:
    def check() -> None:
        if rest is None:
            check_jsonrpc(body)
        else:
            check_rest(body, rest)
    with pytest.raises(MalformedRequest) as caught:
        check()
    return caught.value


def _encodable(refused: MalformedRequest) -> None:
    """Both bindings' error bodies encode as UTF-8 JSON (the lone-surrogate 500)."""
    for body in (refusal_jsonrpc_body(refused.error, refused.request_id),
                 refusal_rest_body(refused.error, 400)):
        json.dumps(body, ensure_ascii=False).encode("utf-8")


@BOUNDED
@given(st.binary(max_size=300))
def test_any_bytes_are_accepted_or_refused_with_a_standard_error(body: bytes) -> None:
    for check in (check_jsonrpc, lambda b: check_rest(b, "/rest/message:send")):
        try:
            check(body)
        except MalformedRequest as refused:
            _encodable(refused)


@BOUNDED
@given(jsonrpc_requests())
def test_hostile_json_rpc_bodies_never_raise_anything_else(request_: object) -> None:
    body = request_.body or b""  # type: ignore[attr-defined]
    try:
        check_jsonrpc(body)
    except MalformedRequest as refused:
        _encodable(refused)
    else:  # what passes is UTF-8 JSON without NaN or lone surrogates
        assert isinstance(json.loads(body.decode("utf-8")), dict)
        assert not request_.malformed  # type: ignore[attr-defined]


@pytest.mark.parametrize(("body", "error"), [
    (b"\xff{}", JSONParseError),
    (b"\xef\xbb\xbf{}", JSONParseError),  # a BOM is not JSON text
    (json.dumps(SEND).encode("utf-16"), JSONParseError),
    (b"[" * 100_000 + b"]" * 100_000, JSONParseError),
    (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), JSONParseError),
    (json.dumps(SEND).replace('"id": 3', '"id": NaN').encode(), JSONParseError),
    (json.dumps(SEND).replace('"hi"', '"hi", "metadata": 1e999').encode(), JSONParseError),
    (json.dumps(SEND).replace('"hi"', '"\\ud800"').encode(), JSONParseError),
    (json.dumps(SEND).replace('"role"', '"\\udfffrole"').encode(), JSONParseError),
    (b"1" * 5000, JSONParseError),  # longer than Python converts
    (b"", JSONParseError),
    (json.dumps([SEND]).encode(), InvalidRequestError),
    (json.dumps({**SEND, "jsonrpc": "1.0"}).encode(), InvalidRequestError),
    (json.dumps({**SEND, "id": 1.5}).encode(), InvalidRequestError),
    (json.dumps({**SEND, "": None}).encode(), InvalidRequestError),  # found by schemathesis
    (json.dumps({**SEND, "id": True}).encode(), InvalidRequestError),
    (json.dumps({**SEND, "method": 5}).encode(), InvalidRequestError),
    (json.dumps({**SEND, "params": "x"}).encode(), InvalidRequestError),
    (json.dumps({**SEND, "method": "message/send"}).encode(), MethodNotFoundError),
    (json.dumps({**SEND, "params": []}).encode(), InvalidParamsError),
    (json.dumps({**SEND, "params": {}}).encode(), InvalidParamsError),  # message is required
    (json.dumps({**SEND, "params": {"message": "text"}}).encode(), InvalidParamsError),
    (json.dumps({**SEND, "method": "GetTask", "params": {"id": "t", "historyLength": 2**70}}
                ).encode(), InvalidParamsError),
])
def test_malformed_json_rpc_gets_the_standard_error(body: bytes, error: type) -> None:
    refused = _refusal(body)
    assert type(refused.error) is error
    _encodable(refused)
    # The id is echoed once the request could be read (never a lone surrogate).
    readable = error is not JSONParseError and body.startswith(b"{") and b'"id": 3' in body
    assert refused.request_id == (3 if readable else None)


def test_a_lone_surrogate_id_is_refused_with_a_null_id() -> None:
    refused = _refusal(json.dumps({**SEND, "id": "\ud800"}).encode())
    assert isinstance(refused.error, JSONParseError) and refused.request_id is None
    _encodable(refused)


def test_valid_requests_pass_and_depth_up_to_the_limit_is_fine() -> None:
    check_jsonrpc(json.dumps(SEND).encode())
    check_jsonrpc(json.dumps({**SEND, "id": None}).encode())
    check_jsonrpc(json.dumps({k: v for k, v in SEND.items() if k != "id"}).encode())
    check_jsonrpc(json.dumps(SEND).replace('"hi"', '"\\ud83d\\ude00 ok"').encode())  # a pair
    check_jsonrpc(json.dumps(SEND).encode(), any_method=True)
    check_jsonrpc(json.dumps({**SEND, "method": "message/send"}).encode(), any_method=True)
    nested: object = 1
    for _ in range(MAX_JSON_DEPTH - 3):  # envelope, params, message -> within the limit
        nested = {"a": nested}
    deep = json.loads(json.dumps(SEND))
    deep["params"]["message"]["metadata"] = nested
    load_json(json.dumps(deep).encode())


@pytest.mark.parametrize(("body", "route"), [
    (b"\xff", "/rest/message:send"),
    (b"[]", "/rest/message:send"),
    (b'{"message": {"parts": 5}}', "/rest/message:stream"),
    (b'{"url": ["x"]}', "/rest/tasks/t/pushNotificationConfigs"),
    (b'{"message": {"metadata": {"x": NaN}}}', "/rest/message:send"),
    (b"[" * 70 + b"]" * 70, "/rest/tasks/t:cancel"),
])
def test_malformed_http_json_bodies_are_refused(body: bytes, route: str) -> None:
    refused = _refusal(body, rest=route)
    assert isinstance(refused.error, InvalidRequestError | InvalidParamsError)
    error = refusal_rest_body(refused.error, 400)["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] in ("INVALID_REQUEST", "INVALID_PARAMS")


def test_http_json_bodies_the_route_completes_pass() -> None:
    check_rest(b"", "/rest/tasks/t:cancel")  # no body: the route decides
    check_rest(b'{"url": "http://x"}', "/rest/tasks/t/pushNotificationConfigs")  # taskId: path
    check_rest(json.dumps(SEND["params"]).encode(), "/rest/tenant-a/message:send")


def test_a_checked_request_carries_its_json_and_its_decoded_params() -> None:
    """The lean path relays ``params`` as sent; ``request`` is what it decodes to."""
    rpc = check_jsonrpc(json.dumps({**SEND, "id": "r-1"}).encode())
    assert (rpc.id, rpc.method, rpc.params) == ("r-1", "SendMessage", SEND["params"])
    assert isinstance(rpc.request, SendMessageRequest)
    assert rpc.request.message.parts[0].text == "hi"
    unknown = check_jsonrpc(json.dumps({**SEND, "method": "message/send"}).encode(),
                            any_method=True)
    assert unknown.request is None  # a2a-sdk's 0.3 adapter decides


@pytest.mark.parametrize("params", [
    {"message": {**SEND["params"]["message"], "parts": {"text": "x"}}},  # not a list
    {"message": SEND["params"]["message"], "configuration": "x"},        # not an object
    {"message": {**SEND["params"]["message"], "parts": ["x"]}},           # element
])
def test_params_of_the_wrong_shape_are_refused_as_the_agent_would(
        params: dict[str, object]) -> None:
    """ParseDict would take a list or scalar for a message field as an empty message;
    the agent's decoder refuses such params, so the gateway does (-32602, 400)."""
    refused = _refusal(json.dumps({**SEND, "params": params}).encode())
    assert type(refused.error) is InvalidParamsError and refused.request_id == 3
    rest = _refusal(json.dumps(params).encode(), rest="/rest/message:send")
    assert type(rest.error) is InvalidParamsError
