"""``a2a-mqtt workflow stages`` and ``workflow emit``: event-driven pipelines (no supervisor).

``stages`` serves some or all stages of an event-driven workflow (steps with
``trigger:``) until interrupted; ``emit`` publishes one input event. See
docs/workflows.md §10 and docs/binding.md §13.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from a2a_mqtt.cli.common import run_async
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.errors import ConfigError

if TYPE_CHECKING:  # imported in the commands: a2a_mqtt.workflows needs the workflows extra
    from a2a_mqtt.workflows import Workflow

__all__ = ["emit", "stages"]


def _load(file: Path) -> Workflow:
    from a2a_mqtt.workflows import WorkflowError, parse_workflow  # noqa: PLC0415

    try:
        definition = parse_workflow(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    except WorkflowError as exc:
        raise click.ClickException(f"{file}:{exc.line}: {exc.path + ': ' if exc.path else ''}"
                                   f"{exc.reason}") from None
    if not definition.event_driven:
        raise click.ClickException(f"{file}: no step has a trigger; this workflow is run by "
                                   "a runner or a supervisor, not by stages")
    return definition


@click.command("stages")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", "store_url", envvar="A2A_MQTT_STAGES_STORE", required=True,
              help="Dedup store: sqlite:///FILE (one host) or postgresql://... (several).")
@click.option("--stage", "only", multiple=True,
              help="Serve only this stage (repeatable); default: every stage.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="Events one stage handles at once.")
@click.option("--session-expiry", type=click.IntRange(min=0), default=3600, show_default=True,
              help="Seconds the broker queues a stage's events while it is down.")
@connection_options
def stages(conn: Connection, file: Path, store_url: str, only: tuple[str, ...],
           concurrency: int, session_expiry: int) -> None:
    """Serve the event-driven stages of FILE until interrupted (at-least-once, deduplicated)."""
    from a2a_mqtt.workflows.events import StageConfig, StageServer  # noqa: PLC0415

    definition = _load(file)
    try:
        config = StageConfig(workflow=definition, store_url=store_url,
                             connection=conn.settings, stages=only,
                             max_concurrency=concurrency, session_expiry=session_expiry)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc

    def ready() -> None:
        names = ", ".join(step.name for step in config.selected)
        click.echo(f"stages {names} of {definition.name} serving on {conn.broker} "
                   "(Ctrl-C to stop)", err=True)

    run_async(StageServer(config).serve(on_ready=ready), conn=conn)


@click.command("emit")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--inputs", "inputs_json", default="{}", show_default=True,
              help="The workflow inputs as a JSON object.")
@click.option("--id", "event_id", default=None,
              help="The event id (default: a new UUID). Re-emitting an id is a no-op.")
@connection_options
def emit(conn: Connection, file: Path, inputs_json: str, event_id: str | None) -> None:
    """Publish one input event to FILE's pipeline; print its id."""
    from a2a_mqtt.transport import connect_transport  # noqa: PLC0415
    from a2a_mqtt.workflows.events_codec import (  # noqa: PLC0415
        FlowEvent,
        encode_event,
        flow_input_topic,
    )

    definition = _load(file)
    try:
        inputs = json.loads(inputs_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--inputs") from None
    if not isinstance(inputs, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--inputs")
    ident = event_id or str(uuid.uuid4())
    payload = encode_event(FlowEvent(id=ident, origin=ident, inputs=inputs), definition.name)

    # On a secure broker the Client ID must be the identity's own.
    client_id = (conn.identity.client_id if conn.identity is not None
                 else f"a2a-mqtt-emit-{uuid.uuid4().hex[:12]}")

    async def publish() -> None:
        transport = await connect_transport(conn.settings.connect_options(
            client_id=client_id))
        try:
            await transport.publish(flow_input_topic(definition.name), payload, qos=1)
        finally:
            await transport.disconnect()

    run_async(publish(), conn=conn)
    click.echo(ident)
