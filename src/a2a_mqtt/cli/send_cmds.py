"""``send`` and ``tasks subscribe``: calling an agent and following its task.

Before sending, the agent's retained card is read (the replay is complete when
the requester's barrier returns, so an unknown agent costs one round trip): a
card that says offline fails at once, or with ``--wait-online`` waits for the
agent to come back. A continuation (``--task-id``) first asks the agent for the
task: a terminal task is an error, and its contextId is kept. A task that ends
FAILED, CANCELED or REJECTED exits non-zero (after printing its events), so a
script can tell a task that did its job from one that did not.
"""

from __future__ import annotations

import json
import mimetypes
import uuid
from pathlib import Path
from typing import Any

import click
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import (
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Struct, Value

from a2a_mqtt.binding.codes import ResponderUnavailableError
from a2a_mqtt.binding.stream import new_context_id, new_task_id
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.common import Settings, common, token_option
from a2a_mqtt.cli.follow import TERMINAL, UNSUCCESSFUL, FollowOptions, Progress, follow
from a2a_mqtt.cli.output import echo_json, event_line, task_line
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.client.transport import MqttClientTransport
from a2a_mqtt.errors import ConfigError

__all__ = ["check_outcome", "follow_options", "send", "subscribe_task"]


def parse_ref(value: str) -> AgentRef:
    try:
        return AgentRef.parse(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


def _json(value: str, what: str, *, obj: bool) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from exc
    if obj and not isinstance(parsed, dict):
        raise click.BadParameter("expected a JSON object", param_hint=what)
    return parsed


def build_parts(text: str | None, data: tuple[str, ...], files: tuple[Path, ...]) -> list[Part]:
    """The message's parts: TEXT, then each --data (JSON), then each --file (bytes)."""
    parts = [Part(text=text)] if text else []
    for value in data:
        parts.append(Part(data=ParseDict(_json(value, "--data", obj=False), Value())))
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--file") from exc
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts.append(Part(raw=raw, filename=path.name, media_type=media))
    if not parts:
        raise click.UsageError("nothing to send: give TEXT, --data or --file")
    return parts


def follow_options(f: Any) -> Any:
    f = click.option("--idle-timeout", type=float, default=None,
                     help="Fail a stream after this many silent seconds (default: wait "
                          "as long as the agent is online and the task runs).")(f)
    return click.option("--probe-interval", type=float, default=30.0, show_default=True,
                        help="After this many silent seconds, ask the agent (GetTask) "
                             "whether the task still runs; 0 never asks.")(f)


async def _presence(mc: A2AMqttClient, ref: AgentRef, wait_online: bool) -> None:
    """Fail fast on an offline card (or wait, with ``wait_online``)."""
    entry = mc.discovery.get(ref)
    if entry is not None and entry.online:
        return
    if entry is None and not wait_online:
        return  # unknown agents are still tried: a publish nobody hears fails fast
    if entry is not None and not wait_online:
        raise ResponderUnavailableError(
            f"{ref} is offline (its card says so, via {entry.status_source}); "
            "use --wait-online to wait for it")
    click.echo(f"waiting for {ref} to come online (Ctrl-C to stop)", err=True)
    async with mc.discovery.watch() as watch:
        async for event in watch:
            if event.entry.ref == ref and event.entry.online:
                return


def check_outcome(task_id: str, state: int) -> None:
    """Exit 1, naming the state, when the task ended without doing its job."""
    if state in UNSUCCESSFUL:
        name = TaskState.Name(state).removeprefix("TASK_STATE_")
        raise click.ClickException(f"task {task_id} ended {name}")


def _show(s: Settings) -> Any:
    def show(event: StreamResponse) -> None:
        if s.as_json:
            click.echo(json.dumps(MessageToDict(event), ensure_ascii=False))
        else:
            click.echo(event_line(event))
    return show


async def _follow(s: Settings, mc: A2AMqttClient, transport: MqttClientTransport,
                  events: Any, task_id: str, opts: FollowOptions) -> None:
    ref = transport.agent

    async def probe() -> Task:
        return await transport.get_task(GetTaskRequest(id=task_id),
                                        context=s.context(s.timeout))
    # A pool's card never goes offline (no member knows it is the last); a member that
    # dies has its tasks failed by a survivor, which reaches us as an event.
    watched = not ref.pool and mc.discovery.get(ref) is not None
    state = await follow(events, agent=ref, show=_show(s), options=opts,
                         discovery=mc.discovery if watched else None, probe=probe,
                         progress=Progress(enabled=not s.as_json))
    check_outcome(task_id, state)


@click.command()
@common
@token_option
@click.argument("agent_ref")
@click.argument("text", required=False)
@click.option("--stream", is_flag=True, help="Stream status and artifact updates.")
@click.option("--task-id", default=None,
              help="Continue this task (after input-required); keeps its contextId.")
@click.option("--context-id", default=None, help="Start the task in this context.")
@click.option("--metadata", default=None, help='Request metadata, a JSON object '
              '(e.g. \'{"delay": 30}\' for the echo example).')
@click.option("--data", multiple=True, help="A data part, any JSON (repeatable).")
@click.option("--file", "files", multiple=True, help="A file part (repeatable).",
              type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--wait-online", is_flag=True,
              help="If the agent's card says offline, wait for it instead of failing.")
@follow_options
def send(s: Settings, agent_ref: str, text: str | None, stream: bool, task_id: str | None,
         context_id: str | None, metadata: str | None, data: tuple[str, ...],
         files: tuple[Path, ...], wait_online: bool, idle_timeout: float | None,
         probe_interval: float) -> None:
    """Send TEXT (and --data/--file parts) to AGENT_REF (org/unit/agent or org/unit/pool/ID).

    Fails at once if the agent's card says offline (see --wait-online). A stream
    waits as long as the task runs and the agent stays online.
    """
    ref = parse_ref(agent_ref)
    request = SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
        parts=build_parts(text, data, files)))
    msg = request.message  # a reference into request (the constructor copied)
    if metadata is not None:
        request.metadata.CopyFrom(ParseDict(_json(metadata, "--metadata", obj=True), Struct()))
    opts = FollowOptions(probe_interval=probe_interval or None, idle_timeout=idle_timeout)

    async def go() -> None:
        async with A2AMqttClient(s.requester(), org=ref.org, unit=ref.unit) as mc:
            await _presence(mc, ref, wait_online)
            transport = mc.transport_for(ref)
            ctx = s.context(s.timeout)
            if task_id:
                task = await transport.get_task(GetTaskRequest(id=task_id), context=ctx)
                if task.status.state in TERMINAL:
                    state = TaskState.Name(task.status.state).removeprefix("TASK_STATE_")
                    raise A2AClientError(
                        f"task {task_id} is {state}, a terminal state: it takes no more "
                        "messages; send without --task-id to start a new task")
                msg.task_id = task_id
                msg.context_id = context_id or task.context_id
            else:
                msg.task_id = new_task_id()
                msg.context_id = context_id or new_context_id()
            if stream:
                # No call timeout here: it would also bound the silence between events.
                events = transport.send_message_streaming(request, context=s.context(None))
                await _follow(s, mc, transport, events, msg.task_id, opts)
                return
            response = await transport.send_message(request, context=ctx)
            if s.as_json:
                echo_json(MessageToDict(response))
            elif response.HasField("task"):
                click.echo(task_line(response.task))
            else:
                click.echo(event_line(StreamResponse(message=response.message)))
            if response.HasField("task"):
                check_outcome(response.task.id, response.task.status.state)
    s.run(go())


def subscribe_task(s: Settings, agent_ref: str, task_id: str, opts: FollowOptions) -> None:
    """Follow an existing task's events (SubscribeToTask) until it ends."""
    ref = parse_ref(agent_ref)

    async def go() -> None:
        async with A2AMqttClient(s.requester(), org=ref.org, unit=ref.unit) as mc:
            transport = mc.transport_for(ref)
            events = transport.subscribe(SubscribeToTaskRequest(id=task_id),
                                         context=s.context(None))
            await _follow(s, mc, transport, events, task_id, opts)
    s.run(go())
