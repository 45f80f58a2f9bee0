"""``a2a-mqtt workflow validate``: check a workflow file and draw its step graph.

The other subcommands of issue #14 (serve, run, list, show, cancel) join this
group when the supervisor lands (docs/workflows.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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
