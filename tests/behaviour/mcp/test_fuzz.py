"""Property test of the server's network surface: whatever arrives on the control and
RPC topics, the server answers or drops it and keeps serving (bounded, fixed seed)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.broker import MosquittoProcess
from tests.behaviour.mcp.conftest import CLI, Processes
from tests.behaviour.mcp.rawpaho import RawClient, Received
from tests.behaviour.mcp.test_wire_conformance import SPEC_INITIALIZE, SPEC_INITIALIZED

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8)
messages = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
    "id": st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans()),
    "method": st.one_of(st.sampled_from(["initialize", "tools/list", "tools/call", "ping",
                                         "notifications/initialized",
                                         "notifications/disconnected", "x/y"]), st.integers()),
    "params": json_values,
    "result": json_values,
}).map(lambda d: json.dumps(d).encode())
payloads = st.one_of(st.binary(max_size=200), messages)

_counter = itertools.count()


class Served:
    def __init__(self, raw: RawClient, sid: str, name: str) -> None:
        self.raw, self.sid, self.name = raw, sid, name


@pytest.fixture
def served(broker: MosquittoProcess, processes: Processes, unique_id: str) -> Iterator[Served]:
    name, sid = f"test/{unique_id}", f"s-{unique_id}"
    raw = RawClient(broker.url, f"fuzz-{unique_id}")
    raw.subscribe(f"$mcp-server/presence/+/{name}")
    processes.start(CLI, "mcp", "serve-example", "--broker", broker.url, "--name", name,
                    "--server-id", sid)
    raw.inbox.get(timeout=60)  # online
    raw.subscribe(f"$mcp-rpc/+/{sid}/{name}", no_local=True)
    yield Served(raw, sid, name)
    raw.close()


def reply_to(raw: RawClient, rid: int, *, errors: bool = False) -> Received:
    while True:
        msg = raw.inbox.get(timeout=20)
        body = json.loads(msg.payload) if msg.payload.startswith(b"{") else {}
        if body.get("id") == rid and ("result" in body or (errors and "error" in body)):
            return msg


@settings(derandomize=True, max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(control=st.lists(payloads, max_size=3), rpc=st.lists(payloads, max_size=4))
def test_any_input_leaves_the_server_serving(served: Served, control: list[bytes],
                                             rpc: list[bytes]) -> None:
    raw, sid, name = served.raw, served.sid, served.name
    cid = f"c{next(_counter)}"
    props = (("MCP-COMPONENT-TYPE", "mcp-client"), ("MCP-MQTT-CLIENT-ID", cid))
    for payload in control:
        raw.publish(f"$mcp-server/{sid}/{name}", payload, user_properties=props)
    init = dict(SPEC_INITIALIZE, id=1_000_000)
    raw.publish(f"$mcp-server/{sid}/{name}", json.dumps(init).encode(), user_properties=props)
    topic = f"$mcp-rpc/{cid}/{sid}/{name}"
    # A fuzzed initialize may have opened this client id's session first; then ours
    # is refused as a duplicate (an error reply), which is correct.
    reply_to(raw, 1_000_000, errors=True)
    raw.publish(topic, json.dumps(SPEC_INITIALIZED).encode(), user_properties=props)
    for payload in rpc:
        raw.publish(topic, payload, user_properties=props)
    call = {"jsonrpc": "2.0", "id": 2_000_000, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1, "b": 1}}}
    fresh = f"d{next(_counter)}"
    fresh_props = (("MCP-COMPONENT-TYPE", "mcp-client"), ("MCP-MQTT-CLIENT-ID", fresh))
    # Whatever happened to that session, a new client is served.
    raw.publish(f"$mcp-server/{sid}/{name}", json.dumps(init).encode(),
                user_properties=fresh_props)
    reply_to(raw, 1_000_000)
    fresh_topic = f"$mcp-rpc/{fresh}/{sid}/{name}"
    raw.publish(fresh_topic, json.dumps(SPEC_INITIALIZED).encode(), user_properties=fresh_props)
    raw.publish(fresh_topic, json.dumps(call).encode(), user_properties=fresh_props)
    assert json.loads(reply_to(raw, 2_000_000).payload)["result"]["structuredContent"] == {
        "result": 2}
    raw.publish(fresh_topic, b'{"jsonrpc":"2.0","method":"notifications/disconnected"}',
                user_properties=fresh_props)
