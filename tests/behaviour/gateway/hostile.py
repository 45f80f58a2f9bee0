"""Hostile HTTP requests for the gateway, and the rule every answer must keep.

Shared by the bounded property tests (``test_hostile.py``) and the long run
(``bench/fuzz_gateway.py``): the same strategies, the same judge.

* :func:`hostile_requests` -- a hypothesis strategy of :class:`Hostile`
  requests over the JSON-RPC endpoint, the HTTP+JSON routes and both SSE
  surfaces: random bytes, non-UTF-8, truncated and deeply nested JSON, lone
  surrogates, NaN/Infinity, wrong JSON-RPC types, unknown methods, oversized
  bodies, wrong Content-Types and HTTP methods, bad paths and agent refs.
* :func:`judge` -- what is wrong with an answer (None if nothing): never 5xx;
  every error is the binding's standard error (a JSON-RPC error object on the
  JSON-RPC endpoint, a ``google.rpc.Status`` otherwise), never plain text; a
  request that is malformed by construction gets a 4xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import httpx
from hypothesis import strategies as st

__all__ = [
    "MALFORMED_CODES",
    "MAX_BODY",
    "Answer",
    "Hostile",
    "hostile_requests",
    "jsonrpc_requests",
    "judge",
    "rest_requests",
    "send",
    "transport_requests",
    "valid_requests",
]

#: The gateway's ``max_body_bytes`` in these runs (the "huge" family always exceeds it).
MAX_BODY: Final = 65_536

#: JSON-RPC codes that say "your request is malformed": never with a 2xx status.
MALFORMED_CODES: Final = frozenset({-32700, -32600, -32601, -32602})
JSONRPC_METHODS: Final = (
    "SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask",
    "SubscribeToTask", "CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
    "GetExtendedAgentCard")
V1: Final = {"A2A-Version": "1.0", "Content-Type": "application/json"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Hostile:
    """One request: ``path`` is below the agent's URL (or absolute from ``/`` if ``raw_path``)."""

    family: str
    surface: str  # jsonrpc | rest | sse | path
    method: str = "POST"
    path: str = ""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(V1))
    malformed: bool = True  # malformed by construction: must be answered 4xx
    raw_path: bool = False

    @property
    def jsonrpc(self) -> bool:
        """Aimed at a JSON-RPC endpoint (so errors are JSON-RPC error objects)."""
        return self.method == "POST" and self.path in ("", "/")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes


# ---------------------------------------------------------------------------- building blocks

_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_hostile_text = st.text(st.one_of(st.characters(), _surrogates), max_size=12)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                       st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
_non_finite = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])


def _message(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": text}],
                        **extra}}


def _rpc(method: str, params: Any, rid: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


def _dumps(value: Any) -> bytes:
    """ASCII JSON: lone surrogates become ``\\udXXX`` escapes, NaN stays ``NaN``."""
    return json.dumps(value).encode()


def _valid_body(method: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "SendMessage": _message(), "SendStreamingMessage": _message(),
        "ListTasks": {}, "GetExtendedAgentCard": {},
    }.get(method, {"id": "t-1"})
    if method.endswith("PushNotificationConfig") or method.startswith("ListTaskPush"):
        params = {"taskId": "t-1", "id": "p-1"}
    return _rpc(method, params)


def _deep(depth: int, *, opener: str = "[") -> bytes:
    """``depth`` nested arrays, or objects (``{"a":{"a":...1}}``)."""
    if opener == "{":
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    return ("[" * depth + "]" * depth).encode()


# ---------------------------------------------------------------------------- JSON-RPC bodies

@st.composite
def _jsonrpc_body(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(family, body, malformed by construction)."""
    method = draw(st.sampled_from(JSONRPC_METHODS))
    base = _valid_body(method)
    kind = draw(st.sampled_from([
        "bytes", "non_utf8", "truncated", "deep", "deep_params", "surrogate_id",
        "surrogate_text", "surrogate_key", "nan", "envelope_types", "unknown_method",
        "params_types", "params_random", "batch", "empty", "bom"]))
    if kind == "bytes":
        return kind, draw(st.binary(max_size=200)), True
    if kind == "non_utf8":
        # "café" in another encoding: never valid UTF-8 (utf-16/32 add NULs and a BOM).
        text = json.dumps({**base, "id": "caf\u00e9"}, ensure_ascii=False)
        codec = draw(st.sampled_from(["latin-1", "utf-16", "utf-32", "cp1252"]))
        return kind, text.encode(codec), True
    if kind == "truncated":
        raw = _dumps(base)
        return kind, raw[:draw(st.integers(0, len(raw) - 1))], True
    if kind == "deep":
        return kind, _deep(draw(st.integers(65, 30_000)),
                           opener=draw(st.sampled_from(["[", "{"]))), True
    if kind == "deep_params":
        depth = draw(st.integers(65, 5_000))
        return kind, (b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":'
                      + _deep(depth, opener="{") + b"}"), True
    if kind == "surrogate_id":
        rid = draw(st.text(min_size=1, max_size=4)) + draw(_surrogates)
        return kind, _dumps({**base, "id": rid}), True
    if kind == "surrogate_text":
        text = "x" + draw(_surrogates) + draw(_hostile_text)
        body = _rpc("SendMessage", _message(text))
        return kind, _dumps(body), True
    if kind == "surrogate_key":
        body = _rpc("SendMessage", _message(metadata={draw(_surrogates) + "k": 1}))
        return kind, _dumps(body), True
    if kind == "nan":
        where = draw(st.sampled_from(["id", "metadata", "data", "history"]))
        token = draw(_non_finite)
        if where == "id":
            return kind, _dumps(base).replace(b'"id": 1', b'"id": ' + token.encode()), True
        if where == "history":
            raw = _dumps(_rpc("GetTask", {"id": "t", "historyLength": 1}))
            return kind, raw.replace(b'"historyLength": 1', b'"historyLength": ' +
                                     token.encode()), True
        params = (_message(metadata={"n": 0}) if where == "metadata"
                  else {"message": {"messageId": "m", "role": "ROLE_USER",
                                    "parts": [{"data": {"n": 0}}]}})
        raw = _dumps(_rpc("SendMessage", params))
        return kind, raw.replace(b'"n": 0', b'"n": ' + token.encode()), True
    if kind == "envelope_types":
        key = draw(st.sampled_from(["jsonrpc", "id", "method", "params"]))
        value = draw(_json)
        body = {**base, key: value}
        malformed = not (
            (key == "jsonrpc" and value == "2.0")
            or (key == "id" and (value is None or (isinstance(value, str | int)
                                                   and not isinstance(value, bool))))
            or (key == "method" and value in JSONRPC_METHODS)
            or key == "params")
        if key == "params":
            malformed = not isinstance(value, dict)
            if isinstance(value, dict):
                return "params_random", _dumps(body), False  # may be valid: the agent says
        if draw(st.booleans()):
            body.pop(key)
            malformed = key in ("jsonrpc", "method")
        return kind, _dumps(body), malformed
    if kind == "unknown_method":
        name = draw(st.text(max_size=30).filter(lambda m: m not in JSONRPC_METHODS))
        return kind, _dumps({**base, "method": name}), True
    if kind == "params_types":
        # A required field of the right name with the wrong JSON type.
        field_name, value = draw(st.sampled_from([
            ("message", "text"), ("message", [1]), ("message", 3), ("id", {"x": 1}),
            ("id", [None]), ("historyLength", "many"), ("pageSize", {"n": 1}),
            ("historyLength", 2**70), ("pageSize", -(2**64))]))
        if field_name == "message":
            return kind, _dumps(_rpc("SendMessage", {"message": value})), True
        target = "ListTasks" if field_name == "pageSize" else "GetTask"
        params = {"id": "t-1", field_name: value} if target == "GetTask" else {field_name: value}
        return kind, _dumps(_rpc(target, params)), True
    if kind == "params_random":
        return kind, _dumps(_rpc(method, draw(st.dictionaries(st.text(max_size=8), _json,
                                                              max_size=4)))), False
    if kind == "batch":
        return kind, _dumps([base, base]), True
    if kind == "bom":
        return kind, b"\xef\xbb\xbf" + _dumps(base), True
    return kind, b"", True


@st.composite
def _jsonrpc(draw: st.DrawFn) -> Hostile:
    family, body, malformed = draw(_jsonrpc_body())
    sse = b"Streaming" in body or b"SubscribeTo" in body
    headers = dict(V1)
    if sse:
        headers["Accept"] = "text/event-stream"
    return Hostile(family=family, surface="sse" if sse else "jsonrpc", path="/", body=body,
                   headers=headers, malformed=malformed)


# ---------------------------------------------------------------------------- HTTP+JSON

_REST_BODY_ROUTES: Final = ("/rest/message:send", "/rest/message:stream",
                            "/rest/tasks/t-1/pushNotificationConfigs")


@st.composite
def _rest(draw: st.DrawFn) -> Hostile:
    kind = draw(st.sampled_from(["body"] * 4 + ["query", "wrong_method", "bad_route", "task_id"]))
    if kind == "body":
        route = draw(st.sampled_from(_REST_BODY_ROUTES))
        family, body, _ = draw(_jsonrpc_body())
        # A JSON-RPC envelope is an HTTP+JSON object without the route's required
        # fields (malformed); its hostile content (NaN, surrogates, depth) stays in it.
        malformed = True
        if family in ("params_random", "envelope_types"):
            # An object of random fields: valid for the route or not, the agent may say.
            body = _dumps(draw(st.dictionaries(st.text(max_size=8), _json, max_size=4)))
            family, malformed = "random_object", False
        surface = "sse" if route.endswith(":stream") else "rest"
        headers = dict(V1, Accept="text/event-stream") if surface == "sse" else dict(V1)
        return Hostile(family=f"rest_{family}", surface=surface, path=route, body=body,
                       headers=headers, malformed=malformed)
    if kind == "query":
        route = draw(st.sampled_from(["/rest/tasks", "/rest/tasks/t-1",
                                      "/rest/tasks/t-1/pushNotificationConfigs"]))
        name = draw(st.sampled_from(["pageSize", "historyLength", "status", "pageToken",
                                     "statusTimestampAfter", "includeArtifacts", "contextId"]))
        value = draw(st.one_of(st.text(max_size=20), st.sampled_from(
            ["-1", "1e400", "NaN", "99999999999999999999", "true", "%ff", "TASK_STATE_X"])))
        return Hostile(family="rest_query", surface="rest", method="GET",
                       path=f"{route}?{quote(name)}={quote(value, safe='%')}", body=None,
                       headers={"A2A-Version": "1.0"}, malformed=False)
    if kind == "wrong_method":
        route = draw(st.sampled_from(["/rest/message:send", "/rest/tasks/t-1",
                                      "/rest/extendedAgentCard", "/", "/rest/tasks"]))
        method = draw(st.sampled_from(["PUT", "PATCH", "DELETE", "OPTIONS"] +
                                      (["GET"] if route in ("/", "/rest/message:send") else [])))
        return Hostile(family="wrong_http_method", surface="rest", method=method, path=route,
                       body=b"{}" if method != "GET" else None, malformed=True)
    if kind == "bad_route":
        tail = draw(st.text(max_size=20))
        return Hostile(family="bad_route", surface="rest", method=draw(st.sampled_from(
            ["GET", "POST"])), path=f"/rest/{quote(tail, safe='')}x:nope", body=b"{}",
            malformed=True)
    task_id = draw(st.text(min_size=1, max_size=40))
    action = draw(st.sampled_from(["", ":cancel", ":subscribe"]))
    method = "GET" if action == "" else "POST"
    surface = "sse" if action == ":subscribe" else "rest"
    return Hostile(family="rest_task_id", surface=surface, method=method,
                   path=f"/rest/tasks/{quote(task_id, safe='')}{action}",
                   body=None if method == "GET" else b"", malformed=False)


# ---------------------------------------------------------------------------- transport-level

@st.composite
def _transport(draw: st.DrawFn) -> Hostile:
    kind = draw(st.sampled_from(["huge", "content_type", "agent_ref"]))
    if kind == "huge":
        path = draw(st.sampled_from(["/", "/rest/message:send", "/rest/message:stream"]))
        size = draw(st.integers(MAX_BODY + 1, 4 * MAX_BODY))
        body = _dumps(_rpc("SendMessage", _message("x" * size)))
        return Hostile(family="huge_body", surface="jsonrpc" if path == "/" else "rest",
                       path=path, body=body, malformed=True)
    if kind == "content_type":
        path = draw(st.sampled_from(["/", "/rest/message:send", "/rest/message:stream"]))
        ctype = draw(st.sampled_from(["text/plain", "application/xml", "multipart/form-data",
                                      "application/x-www-form-urlencoded", "text/json",
                                      "application/octet-stream"]))
        return Hostile(family="content_type", surface="jsonrpc" if path == "/" else "rest",
                       path=path, body=_dumps(_valid_body("SendMessage")),
                       headers={"A2A-Version": "1.0", "Content-Type": ctype}, malformed=True)
    segments = draw(st.lists(st.text(max_size=10), min_size=0, max_size=5))
    suffix = draw(st.sampled_from(["", "/", "/rest/tasks", "/.well-known/agent-card.json"]))
    path = "/" + "/".join(quote(s, safe="") for s in ["nobody", *segments]) + suffix
    method = draw(st.sampled_from(["GET", "POST"]))
    return Hostile(family="agent_ref", surface="path", method=method, path=path,
                   body=_dumps(_valid_body("GetTask")) if method == "POST" else None,
                   malformed=True, raw_path=True)


def jsonrpc_requests() -> st.SearchStrategy[Hostile]:
    """The JSON-RPC endpoint, its SSE methods included."""
    return _jsonrpc()


def rest_requests() -> st.SearchStrategy[Hostile]:
    """The HTTP+JSON routes, their SSE routes included."""
    return _rest()


def transport_requests() -> st.SearchStrategy[Hostile]:
    """Oversized bodies, wrong Content-Types, bad paths and agent refs."""
    return _transport()


def hostile_requests() -> st.SearchStrategy[Hostile]:
    """Every family, across the JSON-RPC, HTTP+JSON and SSE surfaces (bodies weigh double)."""
    return st.one_of(_jsonrpc(), _rest(), _jsonrpc(), _rest(), _transport())


async def send(http: httpx.AsyncClient, gateway_url: str, agent_url: str,
               request: Hostile) -> Answer:
    """Send ``request`` and read the whole answer (an event stream to its end)."""
    url = f"{gateway_url}{request.path}" if request.raw_path else f"{agent_url}{request.path}"
    async with http.stream(request.method, url, content=request.body,
                           headers=request.headers) as response:
        body = await response.aread()
    return Answer(response.status_code, response.headers.get("content-type", ""), body)


def valid_requests() -> list[Hostile]:
    """Health checks: a valid SendMessage over JSON-RPC and over HTTP+JSON."""
    return [Hostile(family="health", surface="jsonrpc", path="/",
                    body=_dumps(_rpc("SendMessage", _message("health"))), malformed=False),
            Hostile(family="health", surface="rest", path="/rest/message:send",
                    body=_dumps(_message("health")), malformed=False)]


# ---------------------------------------------------------------------------- the judge

def _strict_json(body: bytes) -> Any:
    return json.loads(body.decode("utf-8"), parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _jsonrpc_problem(data: Any, status: int) -> str | None:
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or "id" not in data:
        return "not a JSON-RPC response object"
    if "error" in data:
        error = data["error"]
        if not (isinstance(error, dict) and isinstance(error.get("code"), int)
                and isinstance(error.get("message"), str)):
            return "malformed JSON-RPC error object"
        if status < 300 and error["code"] in MALFORMED_CODES:
            return f"malformed request answered {status} (code {error['code']})"
        if status < 300 and error["code"] == -32603:
            return "internal error (-32603) for a client's request"
        return None
    return None if "result" in data else "JSON-RPC response without result or error"


def _status_problem(data: Any, status: int) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    if not (isinstance(error, dict) and error.get("code") == status
            and isinstance(error.get("status"), str) and isinstance(error.get("message"), str)):
        return "not a google.rpc.Status error body"
    return None


def _sse_problem(request: Hostile, body: bytes) -> str | None:
    for line in body.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        try:
            data = _strict_json(line[5:].strip().encode())
        except ValueError:
            return "an SSE event that is not JSON"
        if request.jsonrpc:
            problem = _jsonrpc_problem(data, 200)
            if problem is not None:
                return f"SSE: {problem}"
    return None


def judge(request: Hostile, answer: Answer) -> str | None:
    """What is wrong with ``answer`` to ``request``; None if it keeps the rule."""
    if answer.status >= 500:
        return f"{answer.status} (server error)"
    if request.malformed and answer.status < 400:
        return f"malformed request answered {answer.status}"
    media = answer.content_type.split(";", 1)[0].strip().lower()
    if media == "text/event-stream":
        if answer.status >= 400:
            return "an error answered as an event stream"
        return _sse_problem(request, answer.body)
    if answer.status in (204, 304) and not answer.body:
        return None
    if media != "application/json" and not media.endswith("+json"):
        return f"{answer.status} answered as {media or 'no content type'}"
    try:
        data = _strict_json(answer.body)
    except ValueError:
        return "the body is not JSON"
    if request.jsonrpc:
        return _jsonrpc_problem(data, answer.status)
    if answer.status >= 400:
        problem = _status_problem(data, answer.status)
        if problem is not None and request.raw_path and request.method == "POST":
            # A POST to an unknown agent's URL is answered on its would-be JSON-RPC endpoint.
            return _jsonrpc_problem(data, answer.status) and problem
        return problem
    return None
