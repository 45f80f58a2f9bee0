"""Client commands: ``agents list|show|watch``, ``tasks get|list|cancel|subscribe``
(``send`` lives in cli/send_cmds.py)."""

from __future__ import annotations

import json
from typing import Any

import click
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
)
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.common import Settings, common, token_option
from a2a_mqtt.cli.follow import FollowOptions
from a2a_mqtt.cli.output import echo_json, entry_dict, task_line
from a2a_mqtt.cli.registry_cmds import (
    registry_list,
    registry_option,
    registry_show,
    registry_watch,
)
from a2a_mqtt.cli.send_cmds import follow_options, parse_ref, send, subscribe_task
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.client.transport import MqttClientTransport
from a2a_mqtt.errors import DiscoveryError

__all__ = ["agents", "send", "tasks"]  # send: re-exported from cli/send_cmds.py


def _ref(value: str) -> AgentRef:
    return parse_ref(value)


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
    registry_url = registry_url or s.conn.registry  # a profile may name one

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
    s.run(go())


@agents.command("show")
@common
@click.argument("agent_ref")
@registry_option
def agents_show(s: Settings, agent_ref: str, registry_url: str | None) -> None:
    """Show one agent's card and status."""
    ref = _ref(agent_ref)
    registry_url = registry_url or s.conn.registry  # a profile may name one

    async def go() -> None:
        if registry_url:
            entry = await registry_show(registry_url, s, ref)
        else:
            async with A2AMqttClient(s.requester(), org=ref.org, unit=ref.unit) as mc:
                # Discovery.start returned after the retained-card replay: no card now
                # means no card at all, so there is nothing to wait for.
                found = mc.discovery.get(ref)
                if found is None or found.card is None:
                    raise DiscoveryError(f"unknown agent {ref}: no usable card on the broker")
                entry = found
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
    s.run(go())


@agents.command("watch")
@common
@_filters
@click.option("--count", type=int, default=None, help="Stop after this many events.")
@registry_option
def agents_watch(s: Settings, count: int | None, registry_url: str | None,
                 **filters: Any) -> None:
    """Print agents appearing, changing, going offline and disappearing."""
    registry_url = registry_url or s.conn.registry  # a profile may name one

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
                    click.echo(json.dumps(
                        {"event": event.kind, **entry_dict(event.entry)}))
                else:
                    click.echo(f"{event.kind:<8} {event.entry.ref!s:<40} {event.entry.status}")
                seen += 1
                if count is not None and seen >= count:
                    return
    s.run(go())


@click.group()
def tasks() -> None:
    """Inspect, follow and cancel tasks on an agent."""


async def _with_transport(s: Settings, agent_ref: str, fn: Any) -> Any:
    async with A2AMqttClient(s.requester(), discover=False) as mc:
        transport: MqttClientTransport = mc.transport_for(_ref(agent_ref))
        return await fn(transport, s.context(s.timeout))


@tasks.command("get")
@common
@token_option
@click.argument("agent_ref")
@click.argument("task_id")
@click.option("--history", type=int, default=None, help="History length to include.")
def tasks_get(s: Settings, agent_ref: str, task_id: str, history: int | None) -> None:
    """Show one task."""
    req = GetTaskRequest(id=task_id)
    if history is not None:
        req.history_length = history
    task = s.run(_with_transport(s, agent_ref, lambda t, c: t.get_task(req, context=c)))
    echo_json(MessageToDict(task)) if s.as_json else click.echo(task_line(task))


@tasks.command("list")
@common
@token_option
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
    listed = s.run(_with_transport(s, agent_ref, lambda t, c: t.list_tasks(req, context=c)))
    if s.as_json:
        echo_json(MessageToDict(listed))
        return
    for task in listed.tasks:
        click.echo(task_line(task))


@tasks.command("cancel")
@common
@token_option
@click.argument("agent_ref")
@click.argument("task_id")
def tasks_cancel(s: Settings, agent_ref: str, task_id: str) -> None:
    """Cancel a task."""
    task = s.run(_with_transport(
        s, agent_ref, lambda t, c: t.cancel_task(CancelTaskRequest(id=task_id), context=c)))
    echo_json(MessageToDict(task)) if s.as_json else click.echo(task_line(task))


@tasks.command("subscribe")
@common
@token_option
@click.argument("agent_ref")
@click.argument("task_id")
@follow_options
def tasks_subscribe(s: Settings, agent_ref: str, task_id: str, idle_timeout: float | None,
                    probe_interval: float) -> None:
    """Follow a running task's events (SubscribeToTask) until it ends."""
    subscribe_task(s, agent_ref, task_id, FollowOptions(probe_interval=probe_interval or None,
                                                        idle_timeout=idle_timeout))
