"""Gateway errors: which client-side failure becomes which HTTP answer."""

from __future__ import annotations

import pytest
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.utils.errors import A2AError, InternalError, TaskNotFoundError

from a2a_mqtt.binding.codes import (
    RequestExpiredError,
    ResponderUnavailableError,
    TransportProtocolError,
)
from a2a_mqtt.errors import NotConnectedError
from a2a_mqtt.gateway.errors import (
    AgentNotFoundError,
    AgentTimeoutError,
    AgentUnavailableError,
    BadGatewayError,
    GatewayError,
    content_type_not_supported,
    jsonrpc_error_body,
    payload_too_large,
    refusal_jsonrpc_body,
    refusal_rest_body,
    rest_error_body,
    translate,
)


@pytest.mark.parametrize(("error", "expected", "status"), [
    (ResponderUnavailableError("gone"), AgentUnavailableError, 503),
    (RequestExpiredError("late"), AgentUnavailableError, 503),
    (A2AClientTimeoutError("slow"), AgentTimeoutError, 504),
    (TransportProtocolError("bad"), BadGatewayError, 502),
    (A2AClientError("garbled reply"), BadGatewayError, 502),
    (NotConnectedError("down"), BadGatewayError, 502),
])
def test_client_side_failures_become_gateway_errors(error: Exception, expected: type,
                                                    status: int) -> None:
    mapped = translate(error, "acme/lab/echo")  # type: ignore[arg-type]
    assert type(mapped) is expected
    assert isinstance(mapped, GatewayError) and mapped.http_status == status
    assert isinstance(mapped, InternalError)  # -32603 if it surfaces mid-stream
    assert "acme/lab/echo" in mapped.message


def test_the_agents_own_a2a_errors_pass_unchanged() -> None:
    error = TaskNotFoundError("Task x not found")
    assert translate(error, "a/b/c") is error
    plain = A2AError("custom")
    assert translate(plain, "a/b/c") is plain


def test_bodies_follow_each_binding() -> None:
    error = AgentUnavailableError("agent a/b/c is offline", agent="a/b/c")
    rest = rest_error_body(error)["error"]
    assert (rest["code"], rest["status"]) == (503, "UNAVAILABLE")
    assert rest["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "AGENT_UNAVAILABLE", "domain": "a2a-mqtt",
                                "metadata": {"agent": "a/b/c"}}]
    rpc = jsonrpc_error_body("r-1", error)
    assert rpc["id"] == "r-1" and rpc["error"]["code"] == -32603
    assert rpc["error"]["data"] == rest["details"]
    assert jsonrpc_error_body(None, AgentNotFoundError("no"))["error"]["code"] == -32601


def test_refusals_before_parsing() -> None:
    rpc = refusal_jsonrpc_body(payload_too_large(10))
    assert rpc["id"] is None and rpc["error"]["code"] == -32600
    assert rpc["error"]["data"][0]["reason"] == "INVALID_REQUEST"
    rest = refusal_rest_body(payload_too_large(10), 413)["error"]
    assert rest["code"] == 413 and "10 bytes" in rest["message"]
    rpc = refusal_jsonrpc_body(content_type_not_supported("text/plain"))
    assert rpc["error"]["code"] == -32005
    rest = refusal_rest_body(content_type_not_supported("text/plain"), 415)["error"]
    assert rest["details"][0]["reason"] == "CONTENT_TYPE_NOT_SUPPORTED"
