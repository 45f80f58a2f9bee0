"""Every decoder of the binding, fed anything, raises nothing but the binding's own errors.

And what a decoder accepts, the binding can carry on: an accepted request's params
decode into protobuf and encode back to UTF-8 JSON; an accepted card re-encodes.
Bounded and derandomised (docs/reliability.md, "Agent request path").
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, parse_card, prepare_card
from a2a_mqtt.binding.envelope import (
    METHODS,
    dumps,
    encode_error,
    encode_result,
    parse_params,
    parse_request,
    parse_response,
)
from a2a_mqtt.binding.jsontext import MAX_DEPTH, loads, value_problem
from a2a_mqtt.binding.stream import is_final_result, is_terminal_result, is_valid_task_id
from a2a_mqtt.binding.topics import (
    REPLY_PREFIX,
    AgentRef,
    parse_discovery_topic,
    reply_topic_problem,
)
from a2a_mqtt.errors import ConfigError, InvalidCardError, RemoteProtocolError
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.transport.base import PublishProperties

FUZZ = settings(derandomize=True, max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Every code point, lone surrogates and U+0000 included.
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                          exclude_categories=()), max_size=20)
numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(any_text, inner, max_size=4)),
    max_leaves=20)
# Field names the request messages really have, so decoding gets past the top level.
field_names = st.sampled_from(["message", "messageId", "role", "parts", "text", "data", "raw",
                               "url", "taskId", "contextId", "metadata", "id", "tenant",
                               "historyLength", "configuration", "pageSize", "status",
                               "acceptedOutputModes", "extensions", "referenceTaskIds",
                               "pushNotificationConfig", "mediaType", "filename"])
param_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(field_names, any_text), inner,
                                            max_size=4)),
    max_leaves=25)


def refusal(decode: Callable[..., Any], *args: Any, **kwargs: Any) -> int | None:
    """The JSON-RPC code ``decode`` refused with, or None if it accepted; other errors fail."""
    try:
        decode(*args, **kwargs)
    except RemoteProtocolError as exc:
        return exc.code
    return None


def as_json(value: Any) -> bytes:
    """ASCII JSON: lone surrogates travel as escapes, NaN and Infinity as bare tokens."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def request_bytes(method: str, params: Any, rid: Any) -> bytes:
    return as_json({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})


@FUZZ
@given(st.binary(max_size=300))
def test_parse_request_of_any_bytes_raises_only_protocol_errors(payload: bytes) -> None:
    assert refusal(parse_request, payload, max_bytes=200) in (None, -32700, -32600, -32601,
                                                              -32602)


@FUZZ
@given(st.sampled_from(sorted(METHODS)), st.dictionaries(field_names, param_values, max_size=4),
       st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70), any_text,
                 st.booleans(), st.floats()))
def test_accepted_requests_decode_and_encode_back(method: str, params: dict[str, Any],
                                                  rid: Any) -> None:
    try:
        request = parse_request(request_bytes(method, params, rid))
        message = parse_params(request)
    except RemoteProtocolError as exc:
        refused = exc
    else:
        # Whatever got through can be answered: the id, and the params re-encoded.
        encode_result(request.id, MessageToDict(message))
        encode_error(request.id, {"code": -32603, "message": "x"})
        return
    # The answer to a refused request can always be encoded (its id included).
    assert refused.code in (-32700, -32600, -32602)
    encode_error(refused.data if isinstance(refused.data, str | int) else None,
                 {"code": refused.code, "message": refused.message[:500]})


@FUZZ
@given(json_values)
def test_any_json_value_as_a_request_is_accepted_or_refused_cleanly(value: Any) -> None:
    try:
        request = parse_request(as_json(value))
    except RemoteProtocolError:
        return
    parse_params_or_refuse(request)


def parse_params_or_refuse(request: Any) -> None:
    assert refusal(parse_params, request) in (None, -32602)


@FUZZ
@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH), st.sampled_from(["[", '{"a":']))
def test_nesting_past_the_limit_is_a_parse_error(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + "1" + closer * depth
    payload = ('{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"x":' + inner + "}}")
    code = refusal(parse_request, payload.encode())
    assert code == (-32700 if depth + 2 > MAX_DEPTH else None)


@FUZZ
@given(st.binary(max_size=300))
def test_parse_response_of_any_bytes_raises_only_protocol_errors(payload: bytes) -> None:
    refusal(parse_response, payload)


@FUZZ
@given(json_values)
def test_parse_response_of_any_json_is_clean(value: Any) -> None:
    try:
        response = parse_response(as_json(value))
    except RemoteProtocolError:
        return
    dumps({"id": response.id, "result": response.result, "error": response.error})


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_values.map(as_json)))
def test_parse_card_of_anything_raises_only_invalid_card(payload: bytes) -> None:
    for validate in (True, False):
        try:
            card = parse_card(payload, validate=validate, max_bytes=250)
        except InvalidCardError:
            continue
        encode_card(card)


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "description", "version"]),
                       any_text.filter(bool), min_size=1, max_size=3))
def test_a_card_with_any_text_is_refused_exactly_when_it_cannot_re_encode(
        fields: dict[str, str]) -> None:
    base = json.loads(encode_card(prepare_card(echo_card(), ref=AgentRef("o", "u", "a"),
                                               broker_url="mqtt://127.0.0.1:1883")))
    payload = as_json({**base, **fields})
    unencodable = any(value_problem(v) for v in fields.values())
    try:
        card = parse_card(payload)
    except InvalidCardError:
        assert unencodable
        return
    assert not unencodable
    encode_card(card)


@FUZZ
@given(st.lists(st.tuples(any_text, any_text), max_size=6))
def test_user_properties_decode_without_error(pairs: list[tuple[str, str]]) -> None:
    params = P.service_parameters(pairs)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    status, source = P.status_of(PublishProperties(user_properties=tuple(pairs)))
    assert status in ("online", "offline", "unknown")
    assert isinstance(source, str)


@FUZZ
@given(st.one_of(any_text, any_text.map(lambda t: REPLY_PREFIX + t)))
def test_reply_topic_rule_accepts_only_publishable_reply_topics(topic: str) -> None:
    problem = reply_topic_problem(topic)
    if problem is None:
        assert topic.startswith(REPLY_PREFIX) and len(topic) > len(REPLY_PREFIX)
        assert "#" not in topic and "+" not in topic and "\x00" not in topic
        assert len(topic.encode("utf-8")) <= 65_535


@FUZZ
@given(any_text)
def test_topic_and_reference_parsers_raise_only_config_errors(text: str) -> None:
    ref = parse_discovery_topic("$a2a/v1/discovery/" + text)
    assert ref is None or isinstance(ref, AgentRef)
    with contextlib.suppress(ConfigError):
        AgentRef.parse(text)
    assert isinstance(is_valid_task_id(text), bool)


@FUZZ
@given(json_values)
def test_stream_end_checks_take_any_result(value: Any) -> None:
    assert isinstance(is_final_result(value), bool)
    assert isinstance(is_terminal_result(value), bool)
    assert isinstance(is_final_result({"statusUpdate": {"status": {"state": value}}}), bool)


@FUZZ
@given(json_values)
def test_strict_loads_gives_back_only_what_encodes(value: Any) -> None:
    try:
        decoded = loads(as_json(value).decode())
    except ValueError:
        return
    if value_problem(decoded) is None:
        dumps(decoded)
