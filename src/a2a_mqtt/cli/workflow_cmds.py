"""``a2a-mqtt workflow validate|serve|run|list|show|cancel`` (docs/workflows.md).

``validate`` checks a file; ``serve`` runs a supervisor (workflows/supervisor.py);
``run`` calls a workflow agent over MQTT like any A2A client (``--watch`` prints
its progress stream); ``list`` and ``show`` read the shared run database;
``cancel`` sends CancelTask to the workflow agent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from a2a_mqtt.cli.common import Settings, common
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.cli.output import echo_json

if TYPE_CHECKING:  # imported in the commands: a2a_mqtt.workflows needs the workflows extra
    from a2a_mqtt.workflows import Workflow

__all__ = ["workflow"]


@click.group("workflow")
def workflow() -> None:
    """Declarative multi-agent workflows (docs/workflows.md)."""


@workflow.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(file: Path, as_json: bool) -> None:
    """Check FILE; print its step graph, or the first error with its line (exit 1)."""
    from a2a_mqtt.workflows import WorkflowError, describe, parse_workflow  # noqa: PLC0415

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    try:
        definition = parse_workflow(text)
    except WorkflowError as exc:
        if as_json:
            echo_json({"valid": False, "file": str(file), "line": exc.line, "path": exc.path,
                       "reason": exc.reason})
            raise SystemExit(1) from None
        raise click.ClickException(f"{file}:{exc.line}: {exc.path + ': ' if exc.path else ''}"
                                   f"{exc.reason}") from None
    if as_json:
        echo_json({"valid": True, "file": str(file), **_summary(definition)})
    else:
        click.echo(describe(definition))


def _load(file: Path) -> Workflow:
    from a2a_mqtt.workflows import WorkflowError, parse_workflow  # noqa: PLC0415

    try:
        return parse_workflow(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    except WorkflowError as exc:
        raise click.ClickException(f"{file}:{exc.line}: {exc.path + ': ' if exc.path else ''}"
                                   f"{exc.reason}") from None


def _summary(definition: Workflow) -> dict[str, Any]:
    from a2a_mqtt.workflows.validate import topological_order  # noqa: PLC0415

    return {
        "name": definition.name,
        "version": definition.version,
        "inputs": [{"name": s.name, "type": s.type, "required": s.required}
                   for s in definition.inputs],
        "order": topological_order(definition),
        "steps": [{
            "name": step.name,
            "line": definition.lines.get(f"steps.{step.name}", 1),
            "kind": "agent" if step.agent is not None else "hold",
            "agent": dataclasses.asdict(step.agent) if step.agent is not None else None,
            "needs": list(step.needs),
            "timeout": step.timeout,
            "retries": step.retries.max,
            "onFailure": step.on_failure.fallback or step.on_failure.action,
            "conditional": step.when is not None,
        } for step in definition.steps],
    }


_DB_HELP = "Run database: sqlite:///FILE (one host) or postgresql://... (several)."


@workflow.command("serve")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", "db", envvar="A2A_MQTT_WORKFLOW_DB", required=True, help=_DB_HELP)
@connection_options
@click.option("--org", default="workflows", show_default=True,
              help="Org of the workflow agents (org/unit/<workflow name>).")
@click.option("--unit", default="default", show_default=True, help="Unit of the agents.")
@click.option("--id", "supervisor_id", envvar="A2A_MQTT_SUPERVISOR_ID", default=None,
              help="Stable supervisor id (default: random); keep it across restarts.")
@click.option("--lease-ttl", type=float, default=15.0, show_default=True,
              help="Seconds a run's lease lasts unless renewed.")
@click.option("--poll-interval", type=float, default=0.5, show_default=True,
              help="Seconds between reads of inputs other supervisors took.")
@click.option("--stream-idle-timeout", type=float, default=30.0, show_default=True,
              help="Seconds a step's stream may stay silent before it is re-sent.")
@click.option("--max-runs", type=int, default=0, show_default=True,
              help="Runs this supervisor starts and drives at once (0: no limit); new "
                   "requests beyond it are left to supervisors with room.")
@click.option("--claim-grace", type=click.FloatRange(min=0.0), default=2.0, show_default=True,
              envvar="A2A_MQTT_CLAIM_GRACE",
              help="Seconds a request is left to the supervisor designated for it before "
                   "the others check it and, if nobody holds it, claim it.")
@click.option("--ephemeral", type=click.Choice(["auto", "subprocess", "off"]),
              default="auto", show_default=True,
              help="Workers for 'runner: ephemeral' steps: 'subprocess' starts one local "
                   "worker process per attempt; 'auto' does so when a workflow has such "
                   "steps; 'off' fails those steps (no launcher).")
def serve(conn: Connection, files: tuple[Path, ...], db: str, org: str, unit: str,
          supervisor_id: str | None, lease_ttl: float, poll_interval: float,
          stream_idle_timeout: float, max_runs: int, claim_grace: float,
          ephemeral: str) -> None:
    """Serve the workflows in FILES as A2A agents (one supervisor; run several)."""
    from a2a_mqtt.cli.common import run_async  # noqa: PLC0415
    from a2a_mqtt.workflows.ephemeral import SubprocessLauncher  # noqa: PLC0415
    from a2a_mqtt.workflows.ephemeral_launch import EphemeralStepLauncher  # noqa: PLC0415
    from a2a_mqtt.workflows.supervisor import Supervisor, SupervisorConfig  # noqa: PLC0415

    definitions = tuple(_load(file) for file in files)
    spawns = any(s.agent is not None and s.agent.spawn is not None
                 for w in definitions for s in w.steps)
    hook = None
    if ephemeral == "subprocess" or (ephemeral == "auto" and spawns):
        hook = EphemeralStepLauncher(launcher=SubprocessLauncher(), connection=conn.settings)
    config = SupervisorConfig(workflows=definitions, database_url=db,
                              connection=conn.settings,
                              org=org, unit=unit, lease_ttl=lease_ttl,
                              poll_interval=poll_interval,
                              stream_idle_timeout=stream_idle_timeout, max_runs=max_runs,
                              claim_grace=claim_grace,
                              launchers=(hook,) if hook is not None else ())
    if supervisor_id:
        config = dataclasses.replace(config, supervisor_id=supervisor_id)
    click.echo(f"supervisor {config.supervisor_id} serving "
               f"{', '.join(str(config.ref(w)) for w in definitions)} on "
               f"{conn.describe_broker()}"
               f"{' with ephemeral workers' if hook is not None else ''} (Ctrl-C to stop)",
               err=True)

    async def serving() -> None:
        try:
            await Supervisor(config).serve()
        finally:
            if hook is not None:
                await hook.aclose()   # no worker outlives its supervisor

    run_async(serving(), conn=conn)


@workflow.command("run")
@click.argument("agent")
@click.option("-i", "--input", "inputs", multiple=True,
              help="An input as NAME=VALUE (VALUE parsed as JSON when it can be).")
@click.option("--inputs-json", default=None, help="All inputs as one JSON object.")
@click.option("--watch", is_flag=True, help="Print each progress event as it arrives.")
@click.option("--reply", "replies", multiple=True,
              help="Answer an input-required step with this text (in order; without it "
                   "the command asks on the terminal).")
@common
def run_cmd(settings: Settings, agent: str, inputs: tuple[str, ...], inputs_json: str | None,
            watch: bool, replies: tuple[str, ...]) -> None:
    """Run the workflow agent AGENT (org/unit/name) and print its result."""
    from a2a_mqtt.cli.wfwatch import run_workflow  # noqa: PLC0415

    values: dict[str, Any] = {}
    if inputs_json:
        try:
            values.update(json.loads(inputs_json))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(f"not a JSON object: {exc}") from None
    for item in inputs:
        name, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    code = settings.run(run_workflow(settings, agent, values, watch=watch,
                                     replies=list(replies)))
    raise SystemExit(code)


@workflow.command("list")
@click.option("--db", "db", envvar="A2A_MQTT_WORKFLOW_DB", required=True, help=_DB_HELP)
@click.option("--workflow", "name", default=None, help="Only runs of this workflow.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(db: str, name: str | None, limit: int, as_json: bool) -> None:
    """The newest runs: id, workflow, status, owner (supervisor) and epoch."""
    from a2a_mqtt.cli.common import run_async  # noqa: PLC0415
    from a2a_mqtt.cli.wfwatch import list_runs  # noqa: PLC0415

    rows = run_async(list_runs(db, name, limit))
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['runId']}  {row['workflow']:<20} {row['status']:<15} "
                   f"owner={row['owner'] or '-'} epoch={row['epoch']}")


@workflow.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("run_id")
@click.option("--db", "db", envvar="A2A_MQTT_WORKFLOW_DB", required=True, help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(file: Path, run_id: str, db: str, as_json: bool) -> None:
    """Draw run RUN_ID of the workflow in FILE: its step graph with each step's state."""
    from a2a_mqtt.cli.common import run_async  # noqa: PLC0415
    from a2a_mqtt.cli.wfwatch import load_run  # noqa: PLC0415
    from a2a_mqtt.workflows import describe  # noqa: PLC0415

    definition = _load(file)
    state = run_async(load_run(db, run_id, definition))
    steps: dict[str, str] = {name: s.status for name, s in state.steps.items()}
    if as_json:
        echo_json({"runId": run_id, "status": state.status, "error": state.error,
                   "steps": {name: {"status": s.status, "attempts": [
                       {"taskId": a.task_id, "agent": a.agent, "outcome": a.outcome}
                       for a in s.attempts]} for name, s in state.steps.items()}})
        return
    click.echo(f"run {run_id}: {state.status}" + (f" ({state.error})" if state.error else ""))
    click.echo(describe(definition, steps))


@workflow.command("cancel")
@click.argument("agent")
@click.argument("run_id")
@common
def cancel(settings: Settings, agent: str, run_id: str) -> None:
    """Cancel run RUN_ID of the workflow agent AGENT (its running steps are cancelled)."""
    from a2a_mqtt.cli.wfwatch import cancel_run  # noqa: PLC0415

    click.echo(settings.run(cancel_run(settings, agent, run_id)))
