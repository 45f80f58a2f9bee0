"""Payloads and properties of MCP over MQTT, against the spec's examples."""

from __future__ import annotations

import json

import mcp_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.mcp import wire
from a2a_mqtt.mcp.presence import PresenceBook, PresenceChange

SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)

# The spec's "server/online" example, trimmed to what identifies it.
SPEC_ONLINE = {
    "jsonrpc": "2.0", "method": "notifications/server/online",
    "params": {"server_name": "example/server", "description": "brief",
               "meta": {"rbac": {"roles": [{"name": "admin"}]}}},
}


def test_publish_properties_carry_component_and_client_id() -> None:
    props = wire.publish_properties("mcp-server", "s1")
    assert props.user_property("MCP-COMPONENT-TYPE") == "mcp-server"
    assert props.user_property("MCP-MQTT-CLIENT-ID") == "s1"


def test_connect_properties_carry_component_and_meta_json() -> None:
    props = dict(wire.connect_properties("mcp-client", {"version": "1"}))
    assert props["MCP-COMPONENT-TYPE"] == "mcp-client"
    assert json.loads(props["MCP-META"]) == {"version": "1"}


def test_online_payload_matches_the_spec_shape() -> None:
    doc = json.loads(wire.online_payload("example/server", "brief", SPEC_ONLINE["params"]["meta"]))
    assert doc == SPEC_ONLINE


def test_decode_online_reads_the_spec_example() -> None:
    info = wire.decode_online("s1", "example/server", json.dumps(SPEC_ONLINE).encode())
    assert info is not None
    assert (info.server_id, info.server_name, info.description) == ("s1", "example/server", "brief")
    assert info.meta["rbac"]["roles"][0]["name"] == "admin"


def test_decode_online_accepts_the_fork_without_server_name() -> None:
    payload = b'{"jsonrpc":"2.0","method":"notifications/server/online","params":{}}'
    info = wire.decode_online("s1", "a/b", payload)
    assert info is not None
    assert info.server_name == "a/b"


def test_disconnected_is_the_spec_notification() -> None:
    assert json.loads(wire.disconnected_payload()) == {
        "jsonrpc": "2.0", "method": "notifications/disconnected"}
    assert wire.is_disconnected(wire.disconnected_payload())
    request = b'{"jsonrpc":"2.0","id":1,"method":"notifications/disconnected"}'
    assert not wire.is_disconnected(request)


def test_connack_hints() -> None:
    hints = wire.connack_hints((
        ("MCP-SERVER-NAME", "fleet/tools"),
        ("MCP-SERVER-NAME-FILTERS", '["fleet/#","x/+"]'),
        ("MCP-RBAC", '[{"server_name":"fleet/tools","role_name":"user"},{"bad":1}]'),
    ))
    assert hints == wire.ConnackHints("fleet/tools", ("fleet/#", "x/+"),
                                      (("fleet/tools", "user"),))
    assert wire.connack_hints((("MCP-SERVER-NAME-FILTERS", "not json"),)) == wire.ConnackHints()


def test_decode_message_reads_the_spec_initialize() -> None:
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {
            "name": "ExampleClient", "version": "1.0.0"}}}).encode()
    message = wire.decode_message(payload, max_bytes=1000)
    assert isinstance(message, mcp_types.JSONRPCRequest)
    assert message.method == "initialize"


@pytest.mark.parametrize(("payload", "code", "request_id", "answerable"), [
    (b"{not json", mcp_types.PARSE_ERROR, None, True),
    (b'{"jsonrpc":"2.0","id":7,"method":5}', mcp_types.INVALID_REQUEST, 7, True),
    (b'{"jsonrpc":"1.0","method":"x"}', mcp_types.INVALID_REQUEST, None, False),
    (b"[1,2]", mcp_types.INVALID_REQUEST, None, True),
    (b'{"jsonrpc":"2.0","id":true,"method":"x","params":3}', mcp_types.INVALID_REQUEST, None,
     False),
])
def test_decode_message_failures(payload: bytes, code: int, request_id: object,
                                 answerable: bool) -> None:
    failure = wire.decode_message(payload, max_bytes=1000)
    assert isinstance(failure, wire.DecodeFailure)
    assert (failure.code, failure.request_id, failure.answerable) == (code, request_id, answerable)


def test_oversized_payloads_are_refused_before_parsing() -> None:
    failure = wire.decode_message(b'{"jsonrpc":"2.0","id":1,"method":"ping"}', max_bytes=10)
    assert isinstance(failure, wire.DecodeFailure)
    assert "exceeds" in failure.message


@SETTINGS
@given(st.binary(max_size=200))
def test_decode_message_never_raises_on_bytes(payload: bytes) -> None:
    result = wire.decode_message(payload, max_bytes=150)
    assert isinstance(result, (wire.DecodeFailure, *mcp_types.JSONRPCMessage.__args__))  # type: ignore[attr-defined]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=10)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error"]),
                       json_values))
def test_decode_message_never_raises_on_json(doc: dict[str, object]) -> None:
    result = wire.decode_message(json.dumps(doc).encode(), max_bytes=10_000)
    if isinstance(result, wire.DecodeFailure):
        assert result.code in (mcp_types.PARSE_ERROR, mcp_types.INVALID_REQUEST)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=60)), max_size=6))
def test_connack_hints_never_raise(props: list[tuple[str, str]]) -> None:
    wire.connack_hints(tuple(props))


@SETTINGS
@given(st.binary(max_size=100))
def test_decode_online_never_raises(payload: bytes) -> None:
    wire.decode_online("s", "n", payload)


def test_error_payload_is_jsonrpc() -> None:
    doc = json.loads(wire.error_payload(3, -32601, "nope"))
    assert doc == {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "nope"}}


# -- presence ------------------------------------------------------------------------------

def _online(name: str) -> bytes:
    return wire.online_payload(name, "d", {})


def test_presence_book_tracks_instances_and_offline() -> None:
    book = PresenceBook()
    e1 = book.update("$mcp-server/presence/s1/a/b", _online("a/b"))
    book.update("$mcp-server/presence/s2/a/b", _online("a/b"))
    assert e1 is not None
    assert e1.change is PresenceChange.ONLINE
    assert [i.server_id for i in book.instances("a/b")] == ["s1", "s2"]
    gone = book.update("$mcp-server/presence/s1/a/b", b"")
    assert gone is not None
    assert gone.change is PresenceChange.OFFLINE
    assert book.is_online("a/b")
    assert not book.is_online("a/b", "s1")
    book.update("$mcp-server/presence/s2/a/b", b"")
    assert not book.is_online("a/b")
    assert book.update("$mcp-server/presence/s2/a/b", b"") is None  # already gone


def test_presence_book_ignores_garbage_and_other_topics() -> None:
    book = PresenceBook()
    assert book.update("$mcp-server/presence/s1/a", b"{oops") is None
    assert book.update("$mcp-rpc/c/s1/a", _online("a")) is None
    assert book.all() == []


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.booleans()), max_size=30))
def test_presence_book_agrees_with_a_model(steps: list[tuple[str, bool]]) -> None:
    book = PresenceBook()
    model: set[str] = set()
    for sid, online in steps:
        book.update(f"$mcp-server/presence/{sid}/x/y", _online("x/y") if online else b"")
        (model.add if online else model.discard)(sid)
    assert {i.server_id for i in book.instances("x/y")} == model
    assert book.is_online("x/y") == bool(model)
