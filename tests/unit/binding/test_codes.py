"""Error tables and the -32003..-32005 collision (docs/binding.md §7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from a2a.client.errors import A2AClientError
from a2a.utils.errors import (
    A2A_ERROR_MAPPING,
    JSON_RPC_ERROR_CODE_MAP,
    A2AError,
    ContentTypeNotSupportedError,
    InternalError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a_over_mqtt import make_a2a_error

from a2a_mqtt.binding.codes import (
    BindingError,
    BindingErrorKind,
    RequestExpiredError,
    ResponderUnavailableError,
    TransportProtocolError,
    binding_error_object,
    error_from_object,
    error_object,
)

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
A2A_CLASSES = sorted(JSON_RPC_ERROR_CODE_MAP, key=lambda cls: JSON_RPC_ERROR_CODE_MAP[cls])
BINDING_CLASSES = [RequestExpiredError, ResponderUnavailableError, TransportProtocolError]
COLLISIONS = [
    (-32003, PushNotificationNotSupportedError, RequestExpiredError, "request_expired"),
    (-32004, UnsupportedOperationError, ResponderUnavailableError, "responder_unavailable"),
    (-32005, ContentTypeNotSupportedError, TransportProtocolError, "transport_protocol_error"),
]


def wire(error: dict[str, Any]) -> dict[str, Any]:
    """What the peer actually reads: the object after a JSON round trip."""
    loaded: dict[str, Any] = json.loads(json.dumps(error))
    return loaded


# -- A2A errors ------------------------------------------------------------------------------

def test_the_table_covers_every_a2a_1_0_code() -> None:
    assert sorted(JSON_RPC_ERROR_CODE_MAP.values()) == [
        -32700, -32603, -32602, -32601, -32600,
        -32009, -32008, -32007, -32006, -32005, -32004, -32003, -32002, -32001]


@pytest.mark.parametrize("cls", A2A_CLASSES, ids=lambda c: c.__name__)
def test_a2a_error_object_shape(cls: type[A2AError]) -> None:
    obj = wire(error_object(cls()))
    assert obj["code"] == JSON_RPC_ERROR_CODE_MAP[cls]
    assert obj["message"] == cls.message
    assert isinstance(obj["data"], list)
    info = obj["data"][0]
    assert info["@type"] == ERROR_INFO
    assert info["domain"] == "a2a-protocol.org"
    expected_reason = A2A_ERROR_MAPPING[cls].reason if cls in A2A_ERROR_MAPPING else (
        "UNKNOWN_ERROR")
    assert info["reason"] == expected_reason


@pytest.mark.parametrize("cls", A2A_CLASSES, ids=lambda c: c.__name__)
def test_every_a2a_error_round_trips_to_its_class(cls: type[A2AError]) -> None:
    back = error_from_object(wire(error_object(cls("custom text"))))
    assert type(back) is cls
    assert back.message == "custom text"
    assert not isinstance(back, BindingError)


@pytest.mark.parametrize("cls", A2A_CLASSES, ids=lambda c: c.__name__)
def test_error_details_round_trip_as_metadata(cls: type[A2AError]) -> None:
    back = error_from_object(wire(error_object(cls("m", data={"taskId": "t-1", "n": 2}))))
    assert back.data == {"taskId": "t-1", "n": 2}
    assert error_from_object(wire(error_object(cls()))).data is None


def test_invalid_params_field_violations_add_bad_request() -> None:
    error = InvalidParamsError(data={"errors": [{"field": "id", "message": "required"}]})
    obj = wire(error_object(error))
    types = [item["@type"] for item in obj["data"]]
    assert types[0] == ERROR_INFO
    assert "type.googleapis.com/google.rpc.BadRequest" in types
    assert type(error_from_object(obj)) is InvalidParamsError


def test_subclasses_use_their_ancestors_code() -> None:
    class StaleTask(TaskNotFoundError):
        message = "stale"

    obj = error_object(StaleTask())
    assert obj["code"] == -32001
    assert type(error_from_object(obj)) is TaskNotFoundError


def test_a_plain_a2a_error_is_internal() -> None:
    assert error_object(A2AError("x"))["code"] == -32603
    assert error_object(A2AClientError("transport down"))["code"] == -32603


@pytest.mark.parametrize("exc", [ValueError("secret-token-123"), KeyError("k"), RuntimeError()])
def test_other_exceptions_are_internal_errors_without_leaks(exc: Exception) -> None:
    obj = wire(error_object(exc))
    assert obj["code"] == -32603
    assert obj["message"] == "Internal error"
    assert obj["data"][0]["reason"] == "INTERNAL_ERROR"
    assert "secret" not in json.dumps(obj)
    assert type(error_from_object(obj)) is InternalError


# -- binding errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "code", "name", "retryable"), [
    (BindingErrorKind.REQUEST_EXPIRED, -32003, "request_expired", True),
    (BindingErrorKind.RESPONDER_UNAVAILABLE, -32004, "responder_unavailable", True),
    (BindingErrorKind.TRANSPORT_PROTOCOL_ERROR, -32005, "transport_protocol_error", False),
])
def test_binding_error_kinds(kind: BindingErrorKind, code: int, name: str,
                             retryable: bool) -> None:
    assert (kind.code, kind.wire_name, kind.retryable) == (code, name, retryable)
    assert binding_error_object(kind, "text") == {"code": code, "message": "text",
                                                  "data": {"a2a_error": name}}


def test_binding_error_object_carries_details() -> None:
    obj = binding_error_object(BindingErrorKind.REQUEST_EXPIRED, "late", waited=3.5)
    assert obj["data"] == {"a2a_error": "request_expired", "waited": 3.5}


@pytest.mark.parametrize("cls", BINDING_CLASSES, ids=lambda c: c.__name__)
def test_binding_errors_round_trip(cls: type[BindingError]) -> None:
    obj = wire(error_object(cls("why")))
    assert obj == {"code": cls.kind.code, "message": "why",
                   "data": {"a2a_error": cls.kind.wire_name}}
    back = error_from_object(obj)
    assert type(back) is cls
    assert isinstance(back, BindingError)
    assert back.message == "why"
    assert back.retryable is cls.kind.retryable
    assert back.data == {"a2a_error": cls.kind.wire_name}


@pytest.mark.parametrize("cls", BINDING_CLASSES, ids=lambda c: c.__name__)
def test_binding_errors_are_a2a_client_errors(cls: type[BindingError]) -> None:
    assert issubclass(cls, A2AClientError)
    assert issubclass(cls, A2AError)
    assert cls().message == cls.message


def test_binding_error_details_survive_a_round_trip() -> None:
    back = error_from_object(wire(error_object(RequestExpiredError("late",
                                                                   data={"waited": 2}))))
    assert type(back) is RequestExpiredError
    assert back.data == {"a2a_error": "request_expired", "waited": 2}


# -- the collision ---------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "a2a_cls", "binding_cls", "name"), COLLISIONS)
def test_collision_is_resolved_by_data_shape(code: int, a2a_cls: type[A2AError],
                                            binding_cls: type[BindingError],
                                            name: str) -> None:
    as_a2a = wire(error_object(a2a_cls()))
    as_binding = wire(error_object(binding_cls()))
    assert as_a2a["code"] == as_binding["code"] == code
    assert type(error_from_object(as_a2a)) is a2a_cls
    assert type(error_from_object(as_binding)) is binding_cls


@pytest.mark.parametrize(("code", "a2a_cls", "binding_cls", "name"), COLLISIONS)
def test_emqx_sdk_binding_errors_are_recognised(code: int, a2a_cls: type[A2AError],
                                               binding_cls: type[BindingError],
                                               name: str) -> None:
    emqx = make_a2a_error(code, "from the EMQX SDK")
    assert emqx["data"] == {"a2a_error": name}
    back = error_from_object(wire(emqx))
    assert type(back) is binding_cls
    assert back.message == "from the EMQX SDK"


@pytest.mark.parametrize(("code", "a2a_cls", "binding_cls", "name"), COLLISIONS)
def test_a2a_error_name_wins_over_the_code(code: int, a2a_cls: type[A2AError],
                                           binding_cls: type[BindingError], name: str) -> None:
    # The data decides, whatever the code says.
    back = error_from_object({"code": -32603, "message": "m", "data": {"a2a_error": name}})
    assert type(back) is binding_cls


@pytest.mark.parametrize(("code", "a2a_cls", "binding_cls", "name"), COLLISIONS)
def test_without_a2a_error_the_code_decides(code: int, a2a_cls: type[A2AError],
                                            binding_cls: type[BindingError],
                                            name: str) -> None:
    shapes: list[Any] = [None, {}, {"other": 1}, {"a2a_error": 5}, [], "text"]
    for data in shapes:
        obj = {"code": code, "message": "m"} if data is None else {
            "code": code, "message": "m", "data": data}
        assert type(error_from_object(obj)) is a2a_cls, data


@pytest.mark.parametrize(("code", "a2a_cls", "binding_cls", "name"), COLLISIONS)
def test_an_unknown_binding_error_name_never_becomes_the_colliding_a2a_error(
        code: int, a2a_cls: type[A2AError], binding_cls: type[BindingError], name: str) -> None:
    error = error_from_object({"code": code, "message": "m",
                               "data": {"a2a_error": "rate_limited"}})
    assert type(error) is BindingError
    assert not isinstance(error, a2a_cls)


@pytest.mark.parametrize(("code", "cls"), [(-32602, InvalidParamsError),
                                           (-32001, TaskNotFoundError)])
def test_errors_without_data_map_by_code(code: int, cls: type[A2AError]) -> None:
    back = error_from_object({"code": code, "message": "m"})
    assert type(back) is cls
    assert back.data is None


# -- unknown and malformed -------------------------------------------------------------------

@pytest.mark.parametrize("code", [-32000, -31999, -32010, -32099, 0, 1, 12345, None, "x", True,
                                  -32001.0])
def test_unknown_codes_give_a_plain_client_error(code: object) -> None:
    back = error_from_object({"code": code, "message": "weird"})
    assert type(back) is A2AClientError
    assert "weird" in str(back)
    assert str(code) in str(back)


def test_unknown_code_falls_back_to_the_error_info_reason() -> None:
    obj = {"code": -32099, "message": "m",
           "data": [{"@type": ERROR_INFO, "reason": "TASK_NOT_FOUND", "metadata": {"id": "t"}}]}
    back = error_from_object(obj)
    assert type(back) is TaskNotFoundError
    assert back.data == {"id": "t"}


def test_unknown_reason_with_unknown_code_is_a_client_error() -> None:
    obj = {"code": -32099, "message": "m",
           "data": [{"@type": ERROR_INFO, "reason": "NO_SUCH_REASON"}]}
    assert type(error_from_object(obj)) is A2AClientError


def test_missing_message_is_replaced_by_the_code() -> None:
    assert error_from_object({"code": -32001}).message == "JSON-RPC error -32001"
    assert error_from_object({"code": -32001, "message": ""}).message == "JSON-RPC error -32001"


@pytest.mark.parametrize("error", [None, "boom", 5, ["code", -32001]])
def test_non_object_error_is_a_transport_protocol_error(error: object) -> None:
    back = error_from_object(error)
    assert type(back) is TransportProtocolError
    assert back.retryable is False
