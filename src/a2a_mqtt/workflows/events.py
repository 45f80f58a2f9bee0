"""Event-driven stages (the HiveMQ model): no supervisor, each stage reacts to events.

``StageConfig`` -> ``StageServer(config)`` -> ``serve(stop)`` / ``a2a_mqtt.service.run``.
A stage server hosts some or all stages of one event-driven workflow. Per stage it
holds one MQTT session with a fixed Client ID, Clean Start off and a session expiry,
so events published while it is down are queued by the broker; it subscribes at QoS
1 with manual acknowledgement to its trigger topic (events_codec). For each event:

1. decode it; an unusable one becomes an error event (step 5);
2. if the dedup store has it finished, acknowledge it and stop (a redelivery);
3. render the stage's input from the event's context, call the stage's agent with a
   deterministic Task.id (attempt n of this stage on this event), retrying under the
   step's policy; a redelivery after a crash re-sends the same Task.id, which the
   agent answers from its store (or follows, if still running) instead of running
   the work again;
4. publish the result event (QoS 1, id derived from the upstream id) and wait for the
   broker's acknowledgement;
5. or, when the event, the template or every attempt failed, publish an error event
   on the stage's error topic: a poison event never blocks the stage;
6. record the event finished, then acknowledge the upstream event.

So delivery is at least once and the effect once: a crash anywhere before step 6
redelivers the event, and every repeat of steps 3-4 is absorbed by the agent's
Task.id deduplication and the downstream stage's dedup on the result id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

from a2a.utils.errors import A2AError

from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import A2AMqttError, ConfigError
from a2a_mqtt.mqtt_types import IncomingMessage, Subscription, Will
from a2a_mqtt.service import BaseServer
from a2a_mqtt.transport.base import MqttTransport, default_transport
from a2a_mqtt.workflows.errors import TemplateError, WorkflowInputError
from a2a_mqtt.workflows.events_call import StageFailure, call_stage
from a2a_mqtt.workflows.events_codec import (
    FlowEvent,
    FlowEventError,
    decode_event,
    derived_id,
    encode_error,
    encode_event,
    flow_trigger_topic,
    payload_id,
    stage_client_id,
    stage_error_topic,
    stage_result_topic,
    stage_status_topic,
)
from a2a_mqtt.workflows.events_store import DedupStore
from a2a_mqtt.workflows.model import Step, Workflow
from a2a_mqtt.workflows.state import Parts, bind_inputs
from a2a_mqtt.workflows.templates import render_value

__all__ = ["StageConfig", "StageServer"]

log = logging.getLogger(__name__)

Outcome = Literal["result", "error", "skipped"]


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """The stages of one event-driven workflow served by one process."""

    workflow: Workflow
    store_url: str
    """The dedup store: ``sqlite:///FILE`` (one host) or ``postgresql://...``."""
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    stages: tuple[str, ...] = ()
    """The stages to serve; empty: all of them."""
    session_expiry: int = 3600
    """Seconds the broker queues a stage's events while it is away."""
    max_concurrency: int = 16
    """Events one stage handles at once."""
    resolve_timeout: float = 5.0
    shutdown_grace: float = 10.0

    def __post_init__(self) -> None:
        if not self.workflow.event_driven:
            raise ConfigError(f"workflow {self.workflow.name} has no event-driven stages "
                              "(trigger:); run it with a runner or a supervisor")
        names = {step.name for step in self.workflow.steps}
        unknown = sorted(set(self.stages) - names)
        if unknown:
            raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; the workflow has "
                              f"{', '.join(sorted(names))}")
        if self.max_concurrency <= 0 or self.session_expiry < 0:
            raise ConfigError("max_concurrency must be positive and session_expiry >= 0")

    @property
    def selected(self) -> tuple[Step, ...]:
        return tuple(s for s in self.workflow.steps if not self.stages or s.name in self.stages)

    def server(self) -> StageServer:
        return StageServer(self)


class StageServer(BaseServer):
    """Serves the selected stages; an async context manager (reusable, not reentrant)."""

    def __init__(self, config: StageConfig) -> None:
        self.config = config
        self.pipeline = config.workflow.name
        self._store: DedupStore | None = None
        self._mqtt: A2AMqttClient | None = None
        self._transports: dict[str, MqttTransport] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._slots = {s.name: asyncio.Semaphore(config.max_concurrency)
                       for s in config.selected}
        self._accepting = False
        self.counts: dict[str, int] = {"result": 0, "error": 0, "skipped": 0, "duplicate": 0}

    async def _start(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        self._store = await stack.enter_async_context(DedupStore(cfg.store_url))
        self._mqtt = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
            connection=cfg.connection)))
        stack.push_async_callback(self._close_stages)
        self._accepting = True
        for step in cfg.selected:
            await self._open_stage(step)

    async def _open_stage(self, step: Step) -> None:
        cfg = self.config
        status = stage_status_topic(self.pipeline, step.name)
        transport = default_transport(cfg.connection.connect_options(
            client_id=stage_client_id(self.pipeline, step.name),
            clean_start=cfg.session_expiry == 0, session_expiry=cfg.session_expiry,
            will=Will(topic=status, payload=_status("offline", step.name), retain=True)))
        self._transports[step.name] = transport
        assert step.trigger is not None

        def on_event(msg: IncomingMessage) -> None:
            if not self._accepting:
                return  # not acknowledged: the broker redelivers it to the next session
            task = asyncio.create_task(self._handle(step, msg), name=f"stage-{step.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        # Declared before connecting: a resumed session delivers its queue at once.
        await transport.subscribe(Subscription(
            flow_trigger_topic(self.pipeline, step.trigger), qos=1, manual_ack=True), on_event)
        await transport.connect()
        await transport.publish(status, _status("online", step.name), qos=1, retain=True)

    async def _close_stages(self) -> None:
        """Finish or abandon the events in hand, say offline, disconnect every stage."""
        self._accepting = False
        try:
            if self._tasks:
                _done, still = await asyncio.wait(set(self._tasks),
                                                  timeout=self.config.shutdown_grace)
                for task in still:
                    task.cancel()  # left unacknowledged: redelivered to the next session
                await asyncio.gather(*still, return_exceptions=True)
            for name, transport in self._transports.items():
                with contextlib.suppress(A2AMqttError, OSError):
                    if transport.connected:
                        await transport.publish(stage_status_topic(self.pipeline, name),
                                                _status("offline", name), qos=1, retain=True)
                await transport.disconnect()
        finally:
            self._transports.clear()

    async def _handle(self, step: Step, msg: IncomingMessage) -> None:
        async with self._slots[step.name]:
            try:
                event: FlowEvent | None = decode_event(msg.payload, pipeline=self.pipeline)
                problem = None
            except FlowEventError as exc:
                event, problem = None, f"{type(exc).__name__}: {exc}"
            key = (step.name, event.id if event is not None else payload_id(msg.payload))
            if msg.retain:
                msg.acknowledge()  # a retained replay is not an event
                return
            running = self._running.get(key)
            if running is not None:  # the same event twice at once: the first one decides
                await asyncio.shield(running)
                self.counts["duplicate"] += 1
                msg.acknowledge()
                return
            self._running[key] = asyncio.get_running_loop().create_future()
            try:
                await self._once(step, msg, key[1], event, problem)
            except (A2AMqttError, OSError) as exc:
                # The broker or the store failed us: not the event's fault. Unacknowledged,
                # it is redelivered with the next session.
                log.warning("stage %s/%s: event %s left for redelivery: %s", self.pipeline,
                            step.name, key[1], exc)
            finally:
                done = self._running.pop(key)
                done.set_result(None)

    async def _once(self, step: Step, msg: IncomingMessage, event_id: str,
                    event: FlowEvent | None, problem: str | None) -> None:
        assert self._store is not None
        transport = self._transports[step.name]
        if await self._store.outcome(self.pipeline, step.name, event_id) is not None:
            self.counts["duplicate"] += 1
            msg.acknowledge()
            return
        outcome: Outcome
        payload: bytes | None
        if event is None:
            outcome, payload = "error", self._error(step, event_id, None, problem or "")
        else:
            outcome, payload = await self._process(step, event)
        if payload is not None:
            topic = (stage_result_topic(self.pipeline, step.name) if outcome == "result"
                     else stage_error_topic(self.pipeline, step.name))
            # A transport failure here leaves the event unacknowledged: it comes back.
            await transport.publish(topic, payload, qos=1)
        await self._store.finish(self.pipeline, step.name, event_id, outcome)
        self.counts[outcome] += 1
        msg.acknowledge()

    def _error(self, step: Step, event_id: str, event: FlowEvent | None, reason: str) -> bytes:
        log.warning("stage %s/%s: event %s: %s", self.pipeline, step.name, event_id, reason)
        return encode_error(pipeline=self.pipeline, stage=step.name,
                            event_id=derived_id(step.name, event_id),
                            source=event_id, origin=event.origin if event else None,
                            error=reason)

    async def _process(self, step: Step, event: FlowEvent) -> tuple[Outcome, bytes | None]:
        assert self._mqtt is not None
        try:
            inputs = self._inputs(step, event)
            context = {"inputs": inputs, "steps": event.steps}
            if step.when is not None and not step.when.holds(
                    render_value(step.when.value, context)):
                return "skipped", None
            parts = _render(step, context)
            output = await call_stage(self._mqtt, step, parts, pipeline=self.pipeline,
                                      event=event, resolve_timeout=self.config.resolve_timeout)
        except (FlowEventError, WorkflowInputError, TemplateError, StageFailure) as exc:
            return "error", self._error(step, event.id, event, f"{type(exc).__name__}: {exc}")
        except (A2AMqttError, A2AError) as exc:
            return "error", self._error(step, event.id, event, f"{type(exc).__name__}: {exc}")
        steps = {**event.steps, step.name: {
            "status": "completed", "output": {"text": output.text, "data": output.data}}}
        result = FlowEvent(id=derived_id(step.name, event.id), origin=event.origin,
                           stage=step.name, inputs=inputs, steps=steps)
        return "result", encode_event(result, self.pipeline)


    def _inputs(self, step: Step, event: FlowEvent) -> dict[str, Any]:
        if step.trigger == "input":
            return bind_inputs(self.config.workflow, event.inputs)
        if event.stage != step.trigger:
            raise FlowEventError(f"event on {step.trigger}'s result topic says it is from "
                                 f"{event.stage!r}")
        return event.inputs


def _render(step: Step, context: dict[str, Any]) -> Parts:
    rendered: list[tuple[Literal["text", "data"], Any]] = []
    for part in step.input:
        value = render_value(part.template, context)
        if part.kind == "text" and not isinstance(value, str):
            value = "" if value is None else str(value)
        rendered.append((part.kind, value))
    return tuple(rendered)


def _status(status: str, stage: str) -> bytes:
    return json.dumps({"stage": stage, "status": status}).encode()


