"""Churn on discovery topics, and the retained state it leaves (pure, deterministic).

Shared by the registry's invariant tests (unit, behaviour) and ``bench/fuzz_registry.py``.

A :class:`Step` is one MQTT publish. :func:`payload_of` builds a payload of one
*family*, each of which is known to be acceptable or not, so the tests check the
registry's verdicts against an expectation made without its validator.
:class:`Retained` is the model of the broker: the latest retained message per
topic (an empty retained payload clears it; a non-retained publish changes
nothing). :func:`expected_index` says what the registry must then hold.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import BINDING_URI, ROUTING_EXTENSION_URI
from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic
from a2a_mqtt.transport.base import IncomingMessage, PublishProperties

__all__ = ["FAMILIES", "INVALID", "VALID", "Retained", "Step", "churn", "expected_index", "message",
           "normal_status", "payload_of", "topic_pool"]

VALID: Final = ("valid", "valid-emoji", "valid-backslash-u", "valid-unicode")
INVALID: Final = ("surrogate-name", "surrogate-tag", "surrogate-key", "float-overflow",
                  "int-overflow", "nan", "truncated", "not-utf8", "not-object", "bytes",
                  "empty-tags", "wrong-route", "deep", "too-large", "bad-topic")
FAMILIES: Final = VALID + INVALID
STATUSES: Final = (None, "online", "offline", "OFFLINE", "busy")
SOURCES: Final = (None, "agent", "lwt", "broker")
MAX_CARD_BYTES: Final = 64 * 1024
"""The registry limit the churn is built for (``too-large`` payloads exceed it)."""
_WORDS: Final = ("inspect", "line", "conveyor", "camera", "weld", "paint", "robot", "vision")


def card(ref: AgentRef, rnd: random.Random, *, name: str | None = None,
         tags: list[str] | None = None) -> dict[str, Any]:
    """A valid card for ``ref`` (the shape ``prepare_card`` publishes), built as JSON."""
    return {
        "name": name if name is not None else f"{rnd.choice(_WORDS).title()} agent",
        "description": " ".join(rnd.sample(_WORDS, 4)),
        "supportedInterfaces": [{"url": "mqtt://broker.example:1883",
                                 "protocolBinding": BINDING_URI, "protocolVersion": "1.0"}],
        "version": f"1.0.{rnd.randint(0, 999)}",
        "capabilities": {"streaming": True, "extensions": [{
            "uri": ROUTING_EXTENSION_URI,
            "params": {"agentRef": str(ref), "requestTopic": request_topic(ref)}}]},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["application/json"],
        "skills": [{"id": "work", "name": "Work", "description": "Does the work",
                    "tags": tags if tags is not None else [rnd.choice(_WORDS)]}],
    }


def _dumps(data: Any) -> bytes:
    # ensure_ascii escapes lone surrogates as \udXXX: valid JSON text that decodes to them.
    return json.dumps(data, separators=(",", ":")).encode()


def payload_of(family: str, ref: AgentRef, rnd: random.Random) -> bytes:
    """A payload of ``family`` for the topic of ``ref`` (``bad-topic``: a valid card)."""
    if family in ("valid", "bad-topic"):
        return _dumps(card(ref, rnd))
    if family == "valid-emoji":  # a surrogate *pair* is one character: fine
        return _dumps(card(ref, rnd, name="Robot \U0001f916"))
    if family == "valid-backslash-u":  # a literal backslash, then "ud800": fine
        return _dumps(card(ref, rnd, name="path C:\\ud800\\x"))
    if family == "valid-unicode":
        return json.dumps(card(ref, rnd, name="Prüfer ✓", tags=["Überprüfung"]),
                          ensure_ascii=False).encode()
    if family == "surrogate-name":
        return _dumps(card(ref, rnd, name="bad \ud800 name"))
    if family == "surrogate-tag":
        return _dumps(card(ref, rnd, tags=["ok", "x\udfff"]))
    if family == "surrogate-key":
        data = card(ref, rnd)
        data["capabilities"]["extensions"][0]["params"]["\udc80"] = 1
        return _dumps(data)
    if family == "float-overflow":
        return _dumps(card(ref, rnd)).replace(b'"streaming":true',
                                              b'"streaming":true,"x":1e400', 1)
    if family == "int-overflow":
        data = card(ref, rnd)
        data["capabilities"]["extensions"][0]["params"]["n"] = 0
        return _dumps(data).replace(b'"n":0', b'"n":' + b"9" * 400, 1)
    if family == "nan":
        data = card(ref, rnd)
        data["capabilities"]["extensions"][0]["params"]["n"] = 0
        return _dumps(data).replace(b'"n":0', b'"n":NaN', 1)
    if family == "truncated":
        body = _dumps(card(ref, rnd))
        return body[:rnd.randint(1, len(body) - 1)]
    if family == "not-utf8":
        return b'{"name":"\xff\xfe"}'
    if family == "not-object":
        return rnd.choice([b"[1,2]", b'"card"', b"42", b"null", b"true"])
    if family == "bytes":
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 64))).replace(b"{", b"[")
    if family == "empty-tags":
        return _dumps(card(ref, rnd, tags=[]))
    if family == "wrong-route":
        other = AgentRef(ref.org, ref.unit, ref.name + "-other")
        return _dumps(card(ref, rnd)).replace(str(ref).encode(), str(other).encode(), 1)
    if family == "deep":
        depth = rnd.choice([2_000, 100_000])
        return b'{"name":' + b"[" * depth + b"]" * depth + b"}"
    if family == "too-large":
        data = card(ref, rnd)
        data["description"] = "x" * MAX_CARD_BYTES
        return _dumps(data)
    raise ValueError(f"unknown family {family!r}")


def topic_pool(count: int, *, prefix: str = "t") -> list[AgentRef]:
    """``count`` distinct references (about 1 in 10 a pool) over a few orgs and units."""
    return [AgentRef(f"org{i % 3}", f"unit{i % 5}", f"{prefix}{i:05d}", pool=i % 10 == 9)
            for i in range(count)]


def bad_topic(ref: AgentRef) -> str:
    """A discovery topic the registry's filters deliver whose agent level is no identifier."""
    return discovery_topic(ref).rsplit("/", 1)[0] + f"/{ref.name} has spaces"


@dataclass(frozen=True, slots=True)
class Step:
    """One publish: ``payload`` empty with ``retain`` clears the topic."""

    topic: str
    payload: bytes
    retain: bool
    status: str | None
    source: str | None
    family: str
    """``clear`` for an empty payload, else the payload family."""

    @property
    def valid(self) -> bool:
        return self.family in VALID


def make_step(ref: AgentRef, family: str, rnd: random.Random, *, retain: bool,
              status: str | None, source: str | None) -> Step:
    topic = bad_topic(ref) if family == "bad-topic" else discovery_topic(ref)
    body = b"" if family == "clear" else payload_of(family, ref, rnd)
    return Step(topic, body, retain, status, source, family)


def churn(refs: list[AgentRef], steps: int, *, seed: int,
          large: bool = True) -> Iterator[Step]:
    """``steps`` publishes over ``refs``: mostly valid cards, a third invalid ones,
    clears, and non-retained noise (a fifth of all publishes)."""
    rnd = random.Random(seed)
    families = [f for f in FAMILIES if large or f not in ("too-large", "deep")]
    for _ in range(steps):
        ref = rnd.choice(refs)
        roll = rnd.random()
        if roll < 0.08:
            family = "clear"
        elif roll < 0.55:
            family = rnd.choice(VALID)
        else:
            family = rnd.choice(families)
        yield make_step(ref, family, rnd, retain=rnd.random() >= 0.2,
                        status=rnd.choice(STATUSES), source=rnd.choice(SOURCES))


def message(step: Step, *, retain: bool | None = None) -> IncomingMessage:
    """``step`` as the registry's subscription delivers it (``retain`` overrides the flag)."""
    props: list[tuple[str, str]] = []
    if step.status is not None:
        props.append((P.STATUS, step.status))
    if step.source is not None:
        props.append((P.STATUS_SOURCE, step.source))
    return IncomingMessage(topic=step.topic, payload=step.payload, qos=1,
                           retain=step.retain if retain is None else retain,
                           properties=PublishProperties(user_properties=tuple(props)))


def normal_status(status: str | None, source: str | None) -> tuple[str, str]:
    """What ``a2a-status``/``a2a-status-source`` values read as (docs/registry.md)."""
    folded = (status or "online").lower()
    return (folded if folded in ("online", "offline") else "unknown"), (source or "agent").lower()


@dataclass
class Retained:
    """The broker's retained state: topic -> the step last retained there."""

    state: dict[str, Step] = field(default_factory=dict)

    def apply(self, step: Step) -> None:
        if not step.retain:
            return
        if step.payload:
            self.state[step.topic] = step
        else:
            self.state.pop(step.topic, None)


def expected_index(retained: Retained) -> tuple[dict[str, tuple[bytes, str, str]], set[str]]:
    """What the registry must hold: ``({discovery topic: (card, status, source)},
    {rejected topics})``."""
    entries: dict[str, tuple[bytes, str, str]] = {}
    rejected: set[str] = set()
    for topic, step in retained.state.items():
        if step.valid:
            entries[topic] = (step.payload, *normal_status(step.status, step.source))
        else:
            rejected.add(topic)
    return entries, rejected
