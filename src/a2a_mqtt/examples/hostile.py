"""Hostile request traffic for an agent: a seeded generator of adversarial requests.

What a buggy client, another vendor's implementation or an attacker may put on
an agent's request topic (issue #9): random bytes, truncated, deeply nested or
wrongly typed JSON-RPC, NaN, out-of-range numbers, lone surrogates, huge
strings, oversized payloads, odd or missing Correlation Data, odd User
Properties, every QoS, and Response Topics aimed anywhere. Each :class:`Case`
says whether the agent owes it an answer: exactly when its Response Topic is a
valid reply topic (then exactly one terminal answer is owed, whatever the
payload). Pure: no I/O, deterministic for a seed. Driven by
:mod:`a2a_mqtt.examples.fuzzcheck`.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any, Final

from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic

__all__ = ["Case", "HostileRequests", "valid_send"]

_METHODS: Final = ("SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask",
                   "SubscribeToTask", "GetExtendedAgentCard", "GetTaskPushNotificationConfig",
                   "tasks/send", "", "message/send")
_POISON: Final = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "123456789012345678901234567",
                  '"\\ud800"', '"\\udfff tail"', '"\\u0000"', '"a\\ud83d"', "1.5e308", "-0",
                  "true", "null", "[]", "{}")


@dataclass(frozen=True, slots=True)
class Case:
    """One request PUBLISH and what the agent owes for it."""

    n: int
    payload: bytes
    response_topic: str | None
    correlation: bytes | None
    user_properties: tuple[tuple[str, str], ...]
    qos: int
    owed: bool
    """True when the Response Topic is a valid reply topic: exactly one end marker is due."""
    kind: str


def valid_send(text: str, *, stream: bool = False, rid: Any = None,
               delay: float | None = None) -> dict[str, Any]:
    """A well-formed SendMessage (or SendStreamingMessage) request body for the echo agent."""
    message: dict[str, Any] = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER",
                               "parts": [{"text": text}], "taskId": str(uuid.uuid4())}
    params: dict[str, Any] = {"message": message}
    if delay is not None:
        params["metadata"] = {"delay": delay}
    return {"jsonrpc": "2.0", "id": rid if rid is not None else str(uuid.uuid4()),
            "method": "SendStreamingMessage" if stream else "SendMessage", "params": params}


class HostileRequests:
    """Cases for one agent; ``reply_base`` is the valid reply space the cases that are
    owed an answer use (one topic per case, so answers are counted per case)."""

    def __init__(self, *, seed: int, agent: AgentRef, reply_base: str,
                 max_payload: int, known_tasks: list[str] | None = None) -> None:
        self._rng = random.Random(seed)
        self._agent = agent
        self._reply_base = reply_base.rstrip("/")
        self._max_payload = max_payload
        self.known_tasks: list[str] = known_tasks if known_tasks is not None else []
        victim = AgentRef(agent.org, agent.unit, "victim")
        self._bad_topics: tuple[str, ...] = (
            discovery_topic(victim), request_topic(victim), request_topic(agent),
            discovery_topic(agent), "plain/topic", "$SYS/broker/fuzz", "#", "+", "a/+/b", "a/#",
            "$a2a/v1/reply/", "$a2a/v1/reply/fuzz/+", "$a2a/v1/reply/#", "$a2a/v1/replies/x",
            "$a2a/v1/event/x", "", "$share/g/$a2a/v1/reply/x", "/", "$a2a/v1/reply",
        )

    def case(self, n: int) -> Case:
        rng = self._rng
        kind, payload = self._payload()
        if rng.random() < 0.2:
            topic: str | None = rng.choice((*self._bad_topics, None))
            owed = False
        else:
            topic = f"{self._reply_base}/{n}"
            if rng.random() < 0.05:
                topic += "/" + "x" * rng.randint(1, 2000)  # long but valid
            owed = True
        roll = rng.random()
        correlation = (None if roll < 0.05 else b"" if roll < 0.08
                       else rng.randbytes(rng.randint(1, 64)) if roll < 0.2
                       else f"c{n}".encode())
        return Case(n=n, payload=payload, response_topic=topic, correlation=correlation,
                    user_properties=self._user_properties(), qos=rng.choice((0, 1, 1, 2)),
                    owed=owed, kind=kind)

    def _user_properties(self) -> tuple[tuple[str, str], ...]:
        rng = self._rng
        out: list[tuple[str, str]] = []
        version = rng.choice(("1.0", "1.0", "1.0", None, "2.0", "0.3", "x", "1", " 1.0 ", "1.0.9"))
        if version is not None:
            out.append(("a2a-version", version))
        for _ in range(rng.choice((0, 0, 1, 3))):
            key = rng.choice(("a2a-extensions", "a2a-authorization", "a2a-stream-end",
                              "a2a-task-id", "retry-after", "A2A-VERSION", "x", "a2a-",
                              "\u00e9\u4e2d", "k" * 300))
            value = rng.choice(("", "true", "https://x/ext", ",,,", "\u2603" * 50,
                                "v" * rng.randint(0, 3000)))
            out.append((key, value))
        return tuple(out)

    def _payload(self) -> tuple[str, bytes]:
        rng = self._rng
        roll = rng.random()
        if roll < 0.30:
            body = valid_send(f"fuzz {rng.random()}", stream=rng.random() < 0.4,
                              delay=rng.choice((None, None, None, 0.01, 0.05)))
            if rng.random() < 0.3:
                body["params"]["message"]["parts"].append({"data": self._json_value(3)})
            return "valid-send", _dumps(body)
        if roll < 0.40:
            method = rng.choice(("GetTask", "CancelTask", "SubscribeToTask"))
            task = rng.choice(self.known_tasks) if self.known_tasks and rng.random() < 0.7 \
                else str(uuid.uuid4())
            return "task-op", _dumps({"jsonrpc": "2.0", "id": rng.randint(-5, 10**9),
                                      "method": method, "params": {"id": task}})
        if roll < 0.45:
            return "list", _dumps({"jsonrpc": "2.0", "id": "l", "method": "ListTasks",
                                   "params": {"pageSize": rng.choice((1, 5, 50, 0, -1, 10**6))}})
        if roll < 0.55:
            return "random-bytes", rng.randbytes(rng.choice((0, 1, 10, 100, 1000)))
        if roll < 0.62:
            good = _dumps(valid_send("truncate me"))
            return "truncated", good[: rng.randint(0, len(good) - 1)]
        if roll < 0.67:
            depth = rng.choice((65, 200, 5_000, 100_000))
            opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
            return "deep", (f'{{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{{"x":'
                            f'{opener * depth}1{closer * depth}}}}}').encode()
        if roll < 0.77:
            return "poison", self._poisoned()
        if roll < 0.85:
            return "wrong-types", _dumps(self._wrong_types())
        if roll < 0.90:
            # Near the limit only as a read (a stored megabyte per case would measure the
            # task store, not the request path); over it, any method is refused unread.
            which = rng.random()
            if which < 0.05:
                return "huge", _dumps(valid_send("h" * self._max_payload))
            if which < 0.10:
                return "huge", _dumps({"jsonrpc": "2.0", "id": "h", "method": "GetTask",
                                       "params": {"id": "i" * (self._max_payload - 100)}})
            return "huge", _dumps(valid_send("h" * rng.choice((5_000, 20_000))))
        if roll < 0.95:
            return "non-utf8", b'{"jsonrpc":"2.0","id":"\xff\xfe","method":"GetTask"}'
        return "json-value", _dumps(self._json_value(4))

    def _poisoned(self) -> bytes:
        rng = self._rng
        poison = rng.choice(_POISON)
        where = rng.choice(("id", "metadata", "text", "history", "key"))
        body = _dumps(valid_send("p", stream=rng.random() < 0.3)).decode()
        if where == "id":
            body = body.replace('"id":"', f'"id":{poison},"old":"', 1)
        elif where == "metadata":
            body = body.replace('"params":{', f'"params":{{"metadata":{{"m":{poison}}},', 1)
        elif where == "text":
            body = body.replace('"text":"p"', f'"text":{poison}', 1)
        elif where == "history":
            body = body.replace('"params":{', f'"params":{{"configuration":{{"historyLength":'
                                              f'{poison}}},', 1)
        else:
            body = body.replace('"params":{', '"params":{"metadata":{"\\ud801":1},', 1)
        return body.encode()

    def _wrong_types(self) -> dict[str, Any]:
        rng = self._rng
        body: dict[str, Any] = valid_send("w")
        field = rng.choice(("jsonrpc", "id", "method", "params", "message", "parts", "role",
                            "taskId", "messageId"))
        value = rng.choice((None, True, 1, -1.5, "s", [], [1, "a"], {}, {"k": "v"}))
        if field in ("jsonrpc", "id", "method", "params"):
            body[field] = value
        elif field == "message":
            body["params"]["message"] = value
        else:
            body["params"]["message"][field] = value
        if rng.random() < 0.3:
            body["method"] = rng.choice(_METHODS)
        return body

    def _json_value(self, depth: int) -> Any:
        rng = self._rng
        roll = rng.random()
        if depth <= 0 or roll < 0.4:
            return rng.choice((None, True, 0, -(2**62), 1.25, "", "\u00e9\u4e2d\U0001f600",
                               "s" * rng.randint(0, 100)))
        if roll < 0.7:
            return [self._json_value(depth - 1) for _ in range(rng.randint(0, 4))]
        return {f"k{i}": self._json_value(depth - 1) for i in range(rng.randint(0, 4))}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
