"""Client commands: ``agents list|show|watch``, ``send``, ``tasks get|list|cancel``."""

from __future__ import annotations

from typing import Any

import click
from a2a.client.client import ClientCallContext
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
)
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.common import Settings, common, run_async
from a2a_mqtt.cli.output import echo_json, entry_dict, event_line, task_line
from a2a_mqtt.cli.registry_cmds import (
    registry_list,
    registry_option,
    registry_show,
    registry_watch,
)
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.client.transport import MqttClientTransport
from a2a_mqtt.errors import ConfigError

__all__ = ["agents", "send", "tasks"]


def _ref(value: str) -> AgentRef:
    try:
        return AgentRef.parse(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


def _filters(f: Any) -> Any:
    for opt in reversed([
        click.option("--org"), click.option("--unit"), click.option("--skill"),
        click.option("--tag"), click.option("--name", help="Substring of the card name."),
        click.option("--online/--offline", "online", default=None,
                     help="Only online (or offline) agents."),
    ]):
        f = opt(f)
    return f


@click.group()
def agents() -> None:
    """Discover agents from their retained cards."""


@agents.command("list")
@common
@_filters
@registry_option
def agents_list(s: Settings, registry_url: str | None, **filters: Any) -> None:
    """List known agents (filters combine)."""
    async def go() -> None:
        if registry_url:
            found = await registry_list(registry_url, s, filters)
        else:
            async with A2AMqttClient(s.requester(), org=filters["org"],
                                     unit=filters["unit"]) as mc:
                found = mc.discovery.list(**filters)
        if s.as_json:
            echo_json([entry_dict(e) for e in found])
            return
        for e in found:
            click.echo(f"{e.ref!s:<40} {e.status:<8} {e.name}  [{', '.join(sorted(e.tags))}]")
        if not found:
            click.echo("no agents found", err=True)
    run_async(go())


@agents.command("show")
@common
@click.argument("agent_ref")
@registry_option
def agents_show(s: Settings, agent_ref: str, registry_url: str | None) -> None:
    """Show one agent's card and status."""
    ref = _ref(agent_ref)

    async def go() -> None:
        if registry_url:
            entry = await registry_show(registry_url, s, ref)
        else:
            async with A2AMqttClient(s.requester(), org=ref.org, unit=ref.unit) as mc:
                entry = await mc.discovery.resolve(ref, timeout=s.timeout)
        data = entry_dict(entry, with_card=True)
        if s.as_json:
            echo_json(data)
            return
        click.echo(f"{entry.ref}  {entry.name}  ({entry.status}, via {entry.status_source})")
        assert entry.card is not None
        click.echo(f"  {entry.card.description}")
        for skill in entry.card.skills:
            click.echo(f"  skill {skill.id}: {skill.description} [{', '.join(skill.tags)}]")
        for problem in entry.problems:
            click.echo(f"  problem: {problem}")
    run_async(go())


@agents.command("watch")
@common
@_filters
@click.option("--count", type=int, default=None, help="Stop after this many events.")
@registry_option
def agents_watch(s: Settings, count: int | None, registry_url: str | None,
                 **filters: Any) -> None:
    """Print agents appearing, changing, going offline and disappearing."""
    async def go() -> None:
        if registry_url:
            await registry_watch(registry_url, s, filters, count)
            return
        seen = 0
        async with A2AMqttClient(s.requester(), org=filters["org"], unit=filters["unit"]) as mc:
            async for event in mc.discovery.watch():
                if not event.entry.matches(**filters):
                    continue
                if s.as_json:
                    click.echo(__import__("json").dumps(
                        {"event": event.kind, **entry_dict(event.entry)}))
                else:
                    click.echo(f"{event.kind:<8} {event.entry.ref!s:<40} {event.entry.status}")
                seen += 1
                if count is not None and seen >= count:
                    return
    run_async(go())


def _message(text: str, task_id: str | None, context_id: str | None) -> SendMessageRequest:
    import uuid  # noqa: PLC0415

    msg = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    if task_id:
        msg.task_id = task_id
    if context_id:
        msg.context_id = context_id
    return SendMessageRequest(message=msg)


@click.command()
@common
@click.argument("agent_ref")
@click.argument("text")
@click.option("--stream", is_flag=True, help="Stream status and artifact updates.")
@click.option("--task-id", default=None, help="Continue this task (after input-required).")
@click.option("--context-id", default=None)
def send(s: Settings, agent_ref: str, text: str, stream: bool, task_id: str | None,
         context_id: str | None) -> None:
    """Send TEXT to AGENT_REF (org/unit/agent or org/unit/pool/ID)."""
    ref = _ref(agent_ref)

    async def go() -> None:
        async with A2AMqttClient(s.requester(), discover=False) as mc:
            transport = mc.transport_for(ref)
            request = _message(text, task_id, context_id)
            ctx = ClientCallContext(timeout=s.timeout)
            if stream:
                async for event in transport.send_message_streaming(request, context=ctx):
                    _print_event(s, event)
                return
            response = await transport.send_message(request, context=ctx)
            if s.as_json:
                echo_json(MessageToDict(response))
            elif response.HasField("task"):
                click.echo(task_line(response.task))
            else:
                click.echo(event_line(StreamResponse(message=response.message)))
    run_async(go())


def _print_event(s: Settings, event: StreamResponse) -> None:
    if s.as_json:
        click.echo(__import__("json").dumps(MessageToDict(event), ensure_ascii=False))
    else:
        click.echo(event_line(event))


@click.group()
def tasks() -> None:
    """Inspect and cancel tasks on an agent."""


async def _with_transport(s: Settings, agent_ref: str, fn: Any) -> Any:
    async with A2AMqttClient(s.requester(), discover=False) as mc:
        transport: MqttClientTransport = mc.transport_for(_ref(agent_ref))
        return await fn(transport, ClientCallContext(timeout=s.timeout))


@tasks.command("get")
@common
@click.argument("agent_ref")
@click.argument("task_id")
@click.option("--history", type=int, default=None, help="History length to include.")
def tasks_get(s: Settings, agent_ref: str, task_id: str, history: int | None) -> None:
    """Show one task."""
    req = GetTaskRequest(id=task_id)
    if history is not None:
        req.history_length = history
    task = run_async(_with_transport(s, agent_ref,
                                     lambda t, c: t.get_task(req, context=c)))
    echo_json(MessageToDict(task)) if s.as_json else click.echo(task_line(task))


@tasks.command("list")
@common
@click.argument("agent_ref")
@click.option("--context-id", default=None)
@click.option("--page-size", type=int, default=None)
def tasks_list(s: Settings, agent_ref: str, context_id: str | None,
               page_size: int | None) -> None:
    """List an agent's tasks, newest first."""
    req = ListTasksRequest()
    if context_id:
        req.context_id = context_id
    if page_size:
        req.page_size = page_size
    listed = run_async(_with_transport(s, agent_ref,
                                       lambda t, c: t.list_tasks(req, context=c)))
    if s.as_json:
        echo_json(MessageToDict(listed))
        return
    for task in listed.tasks:
        click.echo(task_line(task))


@tasks.command("cancel")
@common
@click.argument("agent_ref")
@click.argument("task_id")
def tasks_cancel(s: Settings, agent_ref: str, task_id: str) -> None:
    """Cancel a task."""
    task = run_async(_with_transport(
        s, agent_ref, lambda t, c: t.cancel_task(CancelTaskRequest(id=task_id), context=c)))
    echo_json(MessageToDict(task)) if s.as_json else click.echo(task_line(task))
