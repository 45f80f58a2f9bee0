"""Drive hostile traffic at a live agent and count every broken promise (issue #9).

A :class:`FuzzRig` is a requester plus an observer on the same broker. The
requester publishes :class:`~a2a_mqtt.examples.hostile.HostileRequests` cases
(each owed case on its own reply topic) and a valid health request after every
batch; the observer subscribes to ``#`` and ``$a2a/#`` and sees every publish.
:class:`Tally` holds what must be zero: missing answers, more than one end
marker, items after the end marker, publishes outside ``$a2a/v1/reply/``
(besides our requests and the agent's own card), the agent's will firing
(a dropped connection), health requests not answered (hangs), Correlation
Data not echoed, -32603 answers. Used by the fuzz test and ``bench/fuzz_agent.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from a2a_mqtt.binding.topics import REPLY_PREFIX, AgentRef, discovery_topic, request_topic
from a2a_mqtt.examples.hostile import HostileRequests, valid_send
from a2a_mqtt.mqtt_types import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    PublishProperties,
    Subscription,
)
from a2a_mqtt.transport import Mqtt5Transport

__all__ = ["FuzzRig", "Tally"]

_MUST_BE_ZERO = ("missing", "multi_terminal", "after_end", "outside", "drops", "hangs",
                 "bad_correlation", "internal_errors")


@dataclass
class Tally:
    """What a run saw. Everything in :meth:`failures` must be 0."""

    sent: int = 0
    owed: int = 0
    answered: int = 0
    missing: int = 0
    multi_terminal: int = 0
    after_end: int = 0
    outside: int = 0
    drops: int = 0
    hangs: int = 0
    health_checks: int = 0
    bad_correlation: int = 0
    internal_errors: int = 0
    overloaded: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    codes: Counter[int] = field(default_factory=Counter)
    outside_topics: Counter[str] = field(default_factory=Counter)

    def failures(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _MUST_BE_ZERO}


@dataclass
class _Owed:
    correlation: bytes | None
    kind: str
    terminals: int = 0
    items: int = 0
    result: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    holds_slot: bool = True


class FuzzRig:
    """Requester and observer for one agent; an async context manager."""

    def __init__(self, *, broker_url: str, agent: AgentRef, seed: int, max_payload: int,
                 window: int = 64, answer_timeout: float = 30.0) -> None:
        run = uuid.uuid4().hex[:8]
        self.agent = agent
        self.tally = Tally()
        self._reply_base = f"{REPLY_PREFIX}fuzz/req/r{run}"
        self._known: list[str] = []
        self.cases = HostileRequests(seed=seed, agent=agent, reply_base=self._reply_base,
                                     max_payload=max_payload, known_tasks=self._known)
        url = BrokerURL.parse(broker_url)
        self._requester = Mqtt5Transport(ConnectOptions(url=url, client_id=f"fuzz/req/r{run}"))
        self._observer = Mqtt5Transport(ConnectOptions(url=url, client_id=f"fuzz/obs/r{run}"))
        self._owed: dict[str, _Owed] = {}
        self._open: set[str] = set()
        self._window = asyncio.Semaphore(window)
        self._answer_timeout = answer_timeout
        self._requests_seen = 0
        self._published = 0
        self._n = 0

    async def __aenter__(self) -> FuzzRig:
        await self._requester.subscribe(Subscription(f"{self._reply_base}/#", qos=1),
                                        self._on_reply)
        for topic_filter in ("#", "$a2a/#"):
            await self._observer.subscribe(Subscription(topic_filter, qos=1), self._on_seen)
        await self._observer.connect()
        await self._requester.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._requester.disconnect()
        await self._observer.disconnect()

    # -- what comes back -------------------------------------------------------------

    def _on_seen(self, msg: IncomingMessage) -> None:
        topic = msg.topic
        if topic.startswith(REPLY_PREFIX):
            return
        if topic == request_topic(self.agent):
            self._requests_seen += 1
            if self._requests_seen > self._published:
                self._outside(topic)  # something besides us published a request there
            return
        if topic == discovery_topic(self.agent):
            if msg.properties.user_property("a2a-status-source") == "lwt":
                self.tally.drops += 1
            return
        self._outside(topic)

    def _outside(self, topic: str) -> None:
        self.tally.outside += 1
        self.tally.outside_topics[topic[:80]] += 1

    def _on_reply(self, msg: IncomingMessage) -> None:
        owed = self._owed.get(msg.topic)
        if owed is None:
            self._outside(msg.topic)  # a reply on a topic no case used
            return
        end = msg.properties.user_property("a2a-stream-end") == "true"
        if owed.terminals:
            self.tally.after_end += 1
        owed.items += 1
        if (msg.properties.correlation_data or b"") != (owed.correlation or b""):
            self.tally.bad_correlation += 1
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            if isinstance(code, int):
                self.tally.codes[code] += 1
                self.tally.internal_errors += code == -32603
                data = error.get("data")
                self.tally.overloaded += isinstance(data, dict) and data.get(
                    "a2a_error") == "responder_unavailable"
        elif isinstance(body, dict):
            owed.result = body.get("result")
            self._learn_task(owed.result)
        if end:
            owed.terminals += 1
            if owed.terminals == 2:
                self.tally.multi_terminal += 1
            if owed.terminals == 1:
                self.tally.answered += 1
                self._open.discard(msg.topic)
                owed.done.set()
                self._free(owed)

    def _free(self, owed: _Owed) -> None:
        if owed.holds_slot:
            owed.holds_slot = False
            self._window.release()

    def _learn_task(self, result: Any) -> None:
        task = result.get("task") if isinstance(result, dict) else None
        if isinstance(task, dict) and isinstance(task.get("id"), str) and len(self._known) < 500:
            self._known.append(task["id"])

    # -- what goes out -----------------------------------------------------------------

    async def _publish(self, topic: str | None, payload: bytes, correlation: bytes | None,
                       user_properties: tuple[tuple[str, str], ...], qos: int) -> None:
        props = PublishProperties(response_topic=topic or None, correlation_data=correlation,
                                  user_properties=user_properties)
        self._published += 1  # before the publish: the observer may see it first
        with contextlib.suppress(Exception):  # a publish the broker refuses is not our test
            await self._requester.publish(request_topic(self.agent), payload, qos=qos,
                                          properties=props)

    async def batch(self, count: int) -> None:
        """Publish ``count`` cases (at most ``window`` owed answers outstanding), then a
        health request; returns once every owed answer arrived or timed out."""
        sends: list[asyncio.Task[None]] = []
        waits: list[_Owed] = []
        for _ in range(count):
            self._n += 1
            case = self.cases.case(self._n)
            self.tally.sent += 1
            self.tally.kinds[case.kind] += 1
            if case.owed and case.response_topic is not None:
                await self._window.acquire()
                owed = _Owed(case.correlation, case.kind)
                self._owed[case.response_topic] = owed
                self._open.add(case.response_topic)
                self.tally.owed += 1
                waits.append(owed)
            sends.append(asyncio.create_task(self._publish(
                case.response_topic, case.payload, case.correlation,
                case.user_properties, case.qos), name=f"fuzz.publish.{self._n}"))
        await asyncio.gather(*sends)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._answer_timeout):
                for owed in waits:
                    await owed.done.wait()
        for owed in waits:
            self._free(owed)  # still open: counted missing at settle() unless it comes late
        await self.health()

    async def health(self, timeout: float = 20.0) -> bool:
        """A valid SendMessage; True if it completed within ``timeout`` (else a hang)."""
        self.tally.health_checks += 1
        topic = f"{self._reply_base}/health/{self.tally.health_checks}"
        owed = _Owed(b"health", "health")
        self._owed[topic] = owed
        await self._window.acquire()
        await self._publish(topic, json.dumps(valid_send("health")).encode(), b"health",
                            (("a2a-version", "1.0"),), 1)
        try:
            async with asyncio.timeout(timeout):
                await owed.done.wait()
        except TimeoutError:
            self.tally.hangs += 1
            self._free(owed)
            return False
        task = owed.result.get("task") if isinstance(owed.result, dict) else None
        ok = isinstance(task, dict) and task.get("status", {}).get("state") == \
            "TASK_STATE_COMPLETED"
        if not ok:
            self.tally.hangs += 1
        return ok

    async def settle(self, quiet: float = 2.0) -> Tally:
        """Wait for stragglers (and anything after an end marker), then count the missing."""
        await asyncio.sleep(quiet)
        self.tally.missing = len(self._open)
        return self.tally
