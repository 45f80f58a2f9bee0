"""User Properties and service parameters (docs/binding.md §3.2, §4)."""

from __future__ import annotations

import pytest

from a2a_mqtt.binding import properties as P
from a2a_mqtt.transport.base import PublishProperties

BINDING_ONLY = sorted(P.RESERVED)


def props(*ups: tuple[str, str]) -> PublishProperties:
    return PublishProperties(user_properties=tuple(ups))


# -- reserved names --------------------------------------------------------------------------

def test_reserved_names_are_the_binding_properties() -> None:
    assert {P.STATUS, P.STATUS_SOURCE, P.RESPONDER_AGENT_ID, P.CONTEXT_ID, P.TASK_ID,
            P.STREAM_END} <= P.RESERVED
    assert {"a2a-artifact-mode", "a2a-event-type", "a2a-artifact-id", "a2a-chunk-seqno",
            "a2a-last-chunk", "a2a-security-profile", "a2a-requester-agent-id",
            "a2a-recipient-agent-id", "a2a-recipient-kid"} <= P.RESERVED
    assert all(name.startswith("a2a-") and name == name.lower() for name in P.RESERVED)


@pytest.mark.parametrize("name", [P.A2A_VERSION, P.EXTENSIONS, P.AUTHORIZATION])
def test_service_parameters_are_not_reserved(name: str) -> None:
    assert name not in P.RESERVED


def test_property_names() -> None:
    assert P.A2A_VERSION == "a2a-version"
    assert P.EXTENSIONS == "a2a-extensions"
    assert P.AUTHORIZATION == "a2a-authorization"
    assert P.STREAM_END == "a2a-stream-end"
    assert P.RESPONDER_AGENT_ID == "a2a-responder-agent-id"
    assert P.CONTENT_TYPE_JSON == "application/json"


# -- encoding service parameters -------------------------------------------------------------

@pytest.mark.parametrize("params", [None, {}])
def test_no_service_parameters_no_properties(params: dict[str, str] | None) -> None:
    assert P.service_parameters_to_user_properties(params) == ()


@pytest.mark.parametrize(("name", "prop"), [
    ("A2A-Version", "a2a-version"),
    ("a2a-version", "a2a-version"),
    ("A2A-VERSION", "a2a-version"),
    ("A2A-Extensions", "a2a-extensions"),
    ("Authorization", "a2a-authorization"),
    ("authorization", "a2a-authorization"),
    ("X-Custom", "a2a-x-custom"),
    ("  Traceparent ", "a2a-traceparent"),
])
def test_service_parameter_names_map_to_a2a_properties(name: str, prop: str) -> None:
    assert P.service_parameters_to_user_properties({name: "v"}) == ((prop, "v"),)


def test_values_are_sent_unchanged_and_in_order() -> None:
    ups = P.service_parameters_to_user_properties({
        "A2A-Version": "1.0",
        "Authorization": "Bearer AbC.dEf",
        "A2A-Extensions": "urn:a,urn:B",
    })
    assert ups == (("a2a-version", "1.0"), ("a2a-authorization", "Bearer AbC.dEf"),
                   ("a2a-extensions", "urn:a,urn:B"))


@pytest.mark.parametrize("reserved", BINDING_ONLY)
def test_encoder_drops_parameters_that_map_onto_binding_properties(reserved: str) -> None:
    unprefixed = reserved.removeprefix("a2a-")
    params = {reserved.upper(): "x", unprefixed.title(): "y", "A2A-Version": "1.0"}
    assert P.service_parameters_to_user_properties(params) == (("a2a-version", "1.0"),)


# -- decoding service parameters -------------------------------------------------------------

def test_decoding_maps_names_and_keeps_values() -> None:
    decoded = P.service_parameters([
        ("a2a-version", "1.0"),
        ("a2a-extensions", "urn:a,urn:b"),
        ("a2a-authorization", "Bearer T0k"),
        ("a2a-x-custom", "Mixed Case"),
    ])
    assert decoded == {"a2a-version": "1.0", "a2a-extensions": "urn:a,urn:b",
                       "authorization": "Bearer T0k", "x-custom": "Mixed Case"}


@pytest.mark.parametrize(("key", "name"), [
    ("A2A-Version", "a2a-version"),
    ("A2A-VERSION", "a2a-version"),
    ("A2a-Extensions", "a2a-extensions"),
    ("A2A-Authorization", "authorization"),
    ("A2A-X-Trace", "x-trace"),
])
def test_decoding_folds_key_case(key: str, name: str) -> None:
    assert P.service_parameters([(key, "Value")]) == {name: "Value"}


@pytest.mark.parametrize("key", ["Authorization", "version", "x-custom", "content-type", "a2a",
                                 "a2aversion", ""])
def test_decoding_ignores_properties_without_the_prefix(key: str) -> None:
    assert P.service_parameters([(key, "v")]) == {}


@pytest.mark.parametrize("reserved", BINDING_ONLY)
def test_decoding_skips_binding_properties(reserved: str) -> None:
    assert P.service_parameters([(reserved, "x"), (reserved.upper(), "y")]) == {}


def test_decoding_last_repeated_key_wins_across_case() -> None:
    decoded = P.service_parameters([("a2a-version", "0.3"), ("A2A-Version", "1.0")])
    assert decoded == {"a2a-version": "1.0"}


def test_service_parameters_round_trip() -> None:
    sent = {"A2A-Version": "1.0", "A2A-Extensions": "urn:x:a,urn:x:b",
            "Authorization": "Bearer t", "X-Request-Id": "r-1"}
    received = P.service_parameters(P.service_parameters_to_user_properties(sent))
    assert received == {"a2a-version": "1.0", "a2a-extensions": "urn:x:a,urn:x:b",
                        "authorization": "Bearer t", "x-request-id": "r-1"}
    # HTTP header semantics: every name arrives lower-cased, exactly as a2a-sdk's
    # dispatchers see HTTP headers, and no value is altered.
    assert set(received) == {k.lower() for k in sent}
    assert sorted(received.values()) == sorted(sent.values())


@pytest.mark.parametrize("name", ["Version", "extensions"])
def test_custom_parameter_that_would_read_back_as_a_standard_one_is_refused(name: str) -> None:
    from a2a_mqtt.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError, match="rename"):
        P.service_parameters_to_user_properties({name: "9"})


@pytest.mark.parametrize("name", ["VERSION", " version ", "Extensions", "EXTENSIONS"])
def test_ambiguous_unprefixed_names_are_refused_in_any_case(name: str) -> None:
    from a2a_mqtt.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        P.service_parameters_to_user_properties({"A2A-Version": "1.0", name: "x"})


@pytest.mark.parametrize("name", ["A2A-Version", "a2a-extensions", "X-Version", "Versions"])
def test_names_that_merely_contain_version_are_fine(name: str) -> None:
    assert len(P.service_parameters_to_user_properties({name: "1.0"})) == 1


# -- request and reply properties -------------------------------------------------------------

def test_request_properties() -> None:
    out = P.request_properties(
        response_topic="$a2a/v1/reply/o/u/r/s", correlation_data=b"\x00corr\xff",
        service_params={"A2A-Version": "1.0", "Authorization": "Bearer t"},
        message_expiry=60, extra=(("x-other", "1"),))
    assert out.response_topic == "$a2a/v1/reply/o/u/r/s"
    assert out.correlation_data == b"\x00corr\xff"
    assert out.content_type == "application/json"
    assert out.payload_format_utf8 is True
    assert out.message_expiry_interval == 60
    assert out.user_properties == (("a2a-version", "1.0"), ("a2a-authorization", "Bearer t"),
                                   ("x-other", "1"))


def test_request_properties_minimal() -> None:
    out = P.request_properties(response_topic="r", correlation_data=b"c")
    assert out.message_expiry_interval is None
    assert out.user_properties == ()
    assert out.content_type == P.CONTENT_TYPE_JSON
    assert out.payload_format_utf8 is True


def test_reply_properties_echo_correlation_and_never_route_further() -> None:
    out = P.reply_properties(correlation_data=b"\x01\x02", responder_agent_id="inspector-1",
                             task_id="t-1", end=True)
    assert out.correlation_data == b"\x01\x02"
    assert out.response_topic is None
    assert out.message_expiry_interval is None
    assert out.content_type == "application/json"
    assert out.payload_format_utf8 is True
    assert out.user_properties == (("a2a-responder-agent-id", "inspector-1"),
                                   ("a2a-task-id", "t-1"), ("a2a-stream-end", "true"))


def test_reply_properties_mark_items_that_do_not_end_the_stream() -> None:
    out = P.reply_properties(correlation_data=None)
    assert out.correlation_data is None
    # "false" (not absent) tells a requester this responder sends end markers at all.
    assert out.user_properties == (("a2a-stream-end", "false"),)
    assert out.user_property(P.STREAM_END) == "false"


def test_reply_properties_never_carry_authorization() -> None:
    out = P.reply_properties(correlation_data=b"c", responder_agent_id="a", end=True)
    assert all(k != P.AUTHORIZATION for k, _ in out.user_properties)


# -- presence --------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "source"), [("online", "agent"), ("offline", "lwt"),
                                                ("offline", "agent")])
def test_status_properties(status: str, source: str) -> None:
    ups = P.status_properties(status, source)
    assert ups == (("a2a-status", status), ("a2a-status-source", source))
    assert P.status_of(props(*ups)) == (status, source)


@pytest.mark.parametrize(("ups", "expected"), [
    ((), ("online", "agent")),
    ((("a2a-status", "offline"),), ("offline", "agent")),
    ((("a2a-status-source", "lwt"),), ("online", "lwt")),
    ((("a2a-status", ""), ("a2a-status-source", "")), ("online", "agent")),
    ((("A2A-Status", "OFFLINE"), ("A2A-STATUS-SOURCE", "EMQX")), ("offline", "emqx")),
    ((("a2a-status", "online"), ("a2a-status", "offline")), ("offline", "agent")),
    ((("a2a-status", "away"), ("a2a-status-source", "host-fallback")),
     ("unknown", "host-fallback")),
    ((("a2a-status", "maybe"),), ("unknown", "agent")),
    ((("status", "offline"),), ("online", "agent")),
])
def test_status_of(ups: tuple[tuple[str, str], ...], expected: tuple[str, str]) -> None:
    assert P.status_of(props(*ups)) == expected


@pytest.mark.parametrize(("source", "authoritative"), [
    ("broker", True), ("emqx", True), ("EMQX", True), ("Broker", True),
    ("agent", False), ("lwt", False), ("host-fallback", False), ("", False),
])
def test_is_broker_authoritative(source: str, authoritative: bool) -> None:
    assert P.is_broker_authoritative(source) is authoritative
