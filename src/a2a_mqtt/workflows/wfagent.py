"""The workflow as an A2A agent: its card, and the requests a caller sends it.

Methods (docs/workflows.md §5.1):
- ``SendStreamingMessage`` / ``SendMessage`` with a new Task.id start a run; the
  first data part holds the inputs (a text part that is a JSON object works
  too). Bad inputs answer a FAILED task naming the problem, nothing recorded.
  On a task waiting for input, the message is the caller's reply to the
  waiting step. A streaming request becomes the run's stream (progress until
  input-required or the end); a unary one answers the task as it is.
- ``SubscribeToTask`` re-attaches a stream; ``GetTask`` answers the task;
  ``CancelTask`` cancels the run (its running steps first) and answers once it
  is cancelled (or after 10 s, with the task as it is then).
Every supervisor receives every request; the first to claim it answers, and the
supervisor designated for it (intake.py) is the only one that tries at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, prepare_card
from a2a_mqtt.binding.codes import error_object
from a2a_mqtt.binding.envelope import encode_error, parse_params, parse_request
from a2a_mqtt.binding.stream import is_valid_task_id
from a2a_mqtt.binding.topics import AgentRef, reply_topic_problem
from a2a_mqtt.errors import RemoteProtocolError
from a2a_mqtt.server.claims import claim_key
from a2a_mqtt.transport.base import IncomingMessage
from a2a_mqtt.workflows.errors import WorkflowInputError
from a2a_mqtt.workflows.intake import designated
from a2a_mqtt.workflows.leases import TERMINAL, ReplyTarget
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.progress import plain, run_task
from a2a_mqtt.workflows.state import CancelRequested, InputProvided, Parts, start_run

if TYPE_CHECKING:
    from a2a_mqtt.workflows.supervisor import Supervisor

__all__ = ["WorkflowFrontend", "inputs_of", "workflow_card"]

log = logging.getLogger("a2a_mqtt.workflows")
_MAX_BYTES = 1_048_576
_CANCEL_WAIT = 10.0


def workflow_card(workflow: Workflow, ref: AgentRef, broker_url: str) -> bytes:
    """The workflow's Agent Card: one skill, the workflow, with its inputs described."""
    inputs = ", ".join(f"{s.name}:{s.type}{'' if s.required else '?'}" for s in workflow.inputs)
    skill = AgentSkill(id=workflow.name, name=workflow.name,
                       description=(workflow.description or f"workflow {workflow.name}")
                       + f" (inputs as one data part: {inputs or 'none'})",
                       tags=["workflow"], input_modes=["application/json"],
                       output_modes=["application/json", "text/plain"])
    card = AgentCard(name=workflow.name,
                     description=workflow.description or f"workflow {workflow.name}",
                     version=workflow.version if workflow.version[:1].isdigit() else "1.0.0",
                     capabilities=AgentCapabilities(streaming=True), skills=[skill],
                     default_input_modes=["application/json"],
                     default_output_modes=["application/json", "text/plain"])
    return encode_card(prepare_card(card, ref=ref, broker_url=broker_url))


def inputs_of(message: Message) -> dict[str, Any]:
    """A run's inputs from the caller's first message (first data part, or JSON text)."""
    for part in message.parts:
        if part.HasField("data"):
            value = plain(MessageToDict(part.data))
            if isinstance(value, dict):
                return value
            raise WorkflowInputError("the inputs data part must be a JSON object")
    texts = " ".join(p.text for p in message.parts if p.HasField("text")).strip()
    if not texts:
        return {}
    try:
        value = json.loads(texts)
    except ValueError:
        raise WorkflowInputError("send the workflow inputs as one data part (a JSON "
                                 "object)") from None
    if not isinstance(value, dict):
        raise WorkflowInputError("the inputs must be a JSON object")
    return value


def _reply_parts(message: Message) -> Parts:
    result: list[tuple[Any, Any]] = []
    for part in message.parts:
        if part.HasField("text"):
            result.append(("text", part.text))
        elif part.HasField("data"):
            result.append(("data", plain(MessageToDict(part.data))))
    return tuple(result)


class WorkflowFrontend:
    """Handles requests to the workflow agents on behalf of one supervisor."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor

    def on_request(self, msg: IncomingMessage) -> None:
        """A copy of a request: ours to claim now if we are its designated supervisor,
        else deferred untouched (intake.py) — a losing copy costs no database call."""
        topic = msg.properties.response_topic
        if msg.retain or not topic or reply_topic_problem(topic) is not None:
            msg.acknowledge()  # nowhere to answer: dropped
            return
        sup = self.sup
        key = claim_key(topic, msg.properties.correlation_data)
        first = designated(key, sup.members_of(msg.topic))
        # With max_runs, whoever has room first takes a new run (as claim-mode pools do):
        # every supervisor races, at the cost of a claim per copy.
        if first == sup.config.supervisor_id or sup.config.max_runs:
            sup.spawn(self._handle(msg, topic, key), "request")
        else:
            sup.deferred.put(msg, key, first)

    def serve_claimed(self, msg: IncomingMessage) -> None:
        """A deferred copy we claimed after its grace (its designated supervisor did not)."""
        topic = msg.properties.response_topic or ""
        self.sup.spawn(self._handle(msg, topic, None), "request")

    async def _handle(self, msg: IncomingMessage, topic: str, key: str | None) -> None:
        """Serve one copy; ``key`` is its claim to take first (None: already ours)."""
        sup = self.sup
        reserved = await self._wait_for_capacity(msg) if key is not None else False
        try:
            try:
                won = key is None or await self._claim(key)
            except Exception:
                # The store failed: who answers is unknown. The copy waits with the
                # deferred ones (unacknowledged), which look again until the store is back.
                log.exception("claiming a workflow request failed; trying again later")
                assert key is not None
                sup.deferred.put(msg, key, None)
                return
            if not won:
                msg.acknowledge()  # another supervisor answers this one
                return
            await self._claimed(msg, topic)
        finally:
            if reserved:
                sup.unreserve()  # the run's driver (if it started) holds the room now

    async def _claim(self, key: str) -> bool:
        """One INSERT in the common case; when it loses, the read-then-take-over path
        (an earlier life of this supervisor may hold the claim of a copy it never
        finished: the session redelivered it, so it is ours to serve)."""
        sup = self.sup
        owner = f"{sup.config.supervisor_id}#{sup.boot}"
        return await sup.claims.claim(key, owner) or bool(
            await sup.claims.claim_first([key], owner))

    async def _claimed(self, msg: IncomingMessage, topic: str) -> None:
        workflow = self._workflow_of(msg.topic)
        target_rid: Any = None
        try:
            request = parse_request(msg.payload, max_bytes=_MAX_BYTES)
            target_rid = request.id
            target = ReplyTarget(topic, msg.properties.correlation_data,
                                 json.dumps(request.id))
            params = parse_params(request)
            await self._dispatch(request.method, params, target, workflow)
        except RemoteProtocolError as exc:
            await self._error(topic, msg, exc.data if target_rid is None else target_rid,
                              {"code": exc.code, "message": str(exc)[:500]})
        except Exception as exc:
            if not isinstance(exc, InvalidParamsError | TaskNotFoundError
                              | TaskNotCancelableError | UnsupportedOperationError):
                log.exception("workflow request failed")
            await self._error(topic, msg, target_rid, error_object(exc))
        finally:
            msg.acknowledge()

    async def _wait_for_capacity(self, msg: IncomingMessage) -> bool:
        """With ``max_runs``, a request that would start a run waits here (unclaimed, so
        a supervisor with room takes it first) until this supervisor has room; True if
        a slot was reserved for it."""
        if not self.sup.config.max_runs:
            return False
        try:
            request = parse_request(msg.payload, max_bytes=_MAX_BYTES)
            task_id = request.params.get("message", {}).get("taskId")
        except (RemoteProtocolError, AttributeError):
            return False
        if request.method not in ("SendMessage", "SendStreamingMessage") \
                or not isinstance(task_id, str) \
                or await self.sup.store.run_row(task_id) is not None:
            return False
        await self.sup.reserve()
        return True

    def _workflow_of(self, topic: str) -> Workflow | None:
        for workflow in self.sup.config.workflows:
            if topic.endswith("/" + workflow.name):
                return workflow
        return None

    async def _error(self, topic: str, msg: IncomingMessage, rid: Any,
                     error: dict[str, Any]) -> None:
        assert self.sup.transport is not None
        props = P.reply_properties(correlation_data=msg.properties.correlation_data,
                                   responder_agent_id=self.sup.config.supervisor_id, end=True)
        await self.sup.transport.publish(topic, encode_error(rid, error), qos=1,
                                         properties=props)

    async def _dispatch(self, method: str, params: Any, target: ReplyTarget,
                        workflow: Workflow | None) -> None:
        if method in ("SendMessage", "SendStreamingMessage"):
            assert isinstance(params, SendMessageRequest)
            await self._send(params.message, target, workflow,
                             stream=method == "SendStreamingMessage")
        elif method == "GetTask":
            assert isinstance(params, GetTaskRequest)
            await self.sup.reply(target, MessageToDict(await self._task(params.id)), end=True)
        elif method == "SubscribeToTask":
            assert isinstance(params, SubscribeToTaskRequest)
            await self._attach(params.id, target)
        elif method == "CancelTask":
            assert isinstance(params, CancelTaskRequest)
            await self._cancel(params.id, target)
        else:
            raise UnsupportedOperationError(message=f"{method} is not supported by workflows")

    async def _state(self, run_id: str) -> tuple[Any, Any]:
        row = await self.sup.store.run_row(run_id)
        if row is None or row.workflow not in self.sup.workflows:
            raise TaskNotFoundError(message=f"Task {run_id} not found")
        return row, await self.sup.store.load(run_id, self.sup.workflows[row.workflow])

    async def _task(self, run_id: str) -> Task:
        return run_task((await self._state(run_id))[1])

    async def _send(self, message: Message, target: ReplyTarget, workflow: Workflow | None,
                    *, stream: bool) -> None:
        sup = self.sup
        if not is_valid_task_id(message.task_id):
            raise InvalidParamsError(message="message.taskId must be a UUID the caller "
                                     "generates (binding §6.2)")
        run_id = message.task_id
        if workflow is not None:
            # A new run is the common case: try to create it straight away (one
            # statement on PostgreSQL); an existing run id falls through to the rest.
            try:
                state: Any = start_run(run_id, workflow, inputs_of(message), at=time.time())
            except WorkflowInputError as exc:
                if await sup.store.run_row(run_id) is None:
                    await self._refuse_inputs(run_id, message, target, exc)
                    return
                state = None  # a message on a run that exists: a reply to it
            reply = target if stream else None
            if state is not None and await sup.leases.create(
                    state, context_id=message.context_id or run_id, reply=reply):
                sup.start_driver(run_id, 1, created=state, target=reply)
                if not stream:
                    await sup.reply(target, {"task": MessageToDict(run_task(state))},
                                    end=True)
                return
        elif await sup.store.run_row(run_id) is None:
            raise TaskNotFoundError(message=f"no workflow at this topic for {run_id}")
        row, state = await self._state(run_id)
        waiting = state.waiting_for_input()
        if row.status not in TERMINAL and waiting and message.parts \
                and not any(getattr(e, "parts", None) == _reply_parts(message)
                            and isinstance(e, InputProvided)
                            for e in state.events[-1:]):
            seq = await sup.leases.append_input(run_id, InputProvided(
                waiting[0], _reply_parts(message), time.time()))
            if stream:
                await sup.leases.set_reply(run_id, target, streamed=seq - 1)
            else:
                await sup.reply(target, {"task": MessageToDict(run_task(state))}, end=True)
            await sup.nudge(run_id, row.owner)
            return
        if stream:
            await self._attach(run_id, target)
        else:
            await sup.reply(target, {"task": MessageToDict(run_task(state))}, end=True)

    async def _refuse_inputs(self, run_id: str, message: Message, target: ReplyTarget,
                             exc: WorkflowInputError) -> None:
        """A clear error on the task, at once; nothing is recorded."""
        task = Task(id=run_id, context_id=message.context_id or run_id,
                    status=TaskStatus(state=TaskState.TASK_STATE_FAILED))
        task.status.message.role = Role.ROLE_AGENT
        task.status.message.message_id = f"{run_id}-input"
        task.status.message.parts.add(text=f"bad workflow input: {exc}")
        await self.sup.reply(target, {"task": MessageToDict(task)}, end=True)

    async def _attach(self, run_id: str, target: ReplyTarget) -> None:
        """The task as it is now, then (unless it is final) its stream from here on."""
        row, state = await self._state(run_id)
        task = run_task(state)
        final = row.status in TERMINAL or state.status == "input_required"
        await self.sup.reply(target, {"task": MessageToDict(task)}, end=final)
        if not final:
            await self.sup.leases.set_reply(run_id, target, streamed=len(state.events) - 1)
            await self.sup.nudge(run_id, row.owner)

    async def _cancel(self, run_id: str, target: ReplyTarget) -> None:
        row, _state = await self._state(run_id)
        if row.status in TERMINAL:
            raise TaskNotCancelableError(message=f"Task {run_id} is already {row.status}")
        await self.sup.leases.append_input(run_id, CancelRequested("cancelled by the caller",
                                                                   time.time()))
        await self.sup.nudge(run_id, row.owner)
        deadline = time.time() + _CANCEL_WAIT
        while time.time() < deadline:
            row = await self.sup.store.run_row(run_id)
            if row.status in TERMINAL:
                break
            await asyncio.sleep(0.1)
        await self.sup.reply(target, MessageToDict(await self._task(run_id)), end=True)
