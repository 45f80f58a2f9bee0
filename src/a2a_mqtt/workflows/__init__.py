"""Workflows: declarative multi-agent pipelines (issue #14; see docs/workflows.md).

The definition (YAML or frozen dataclasses) with its validation, the template
language, the run-state model with a pure scheduler (``workflows.state``,
``workflows.scheduler``), an in-process runner (``workflows.runner``), and the HA
supervisors that serve each workflow as an A2A agent (``workflows.supervisor``:
runs, leases with fencing epochs and the event log in SQL, ``workflows.store`` and
``workflows.leases``; the caller's view, ``workflows.progress``; the step-launcher
hook, ``workflows.launch``).
"""

from __future__ import annotations

from a2a_mqtt.workflows.errors import TemplateError, WorkflowError, WorkflowInputError
from a2a_mqtt.workflows.model import (
    AgentSelector,
    Condition,
    InputSpec,
    OnFailure,
    PartTemplate,
    RetryPolicy,
    Step,
    Workflow,
)
from a2a_mqtt.workflows.parse import parse_workflow
from a2a_mqtt.workflows.templates import parse_template
from a2a_mqtt.workflows.validate import describe, topological_order, validate_workflow

__all__ = [
    "AgentSelector",
    "Condition",
    "InputSpec",
    "OnFailure",
    "PartTemplate",
    "RetryPolicy",
    "Step",
    "TemplateError",
    "Workflow",
    "WorkflowError",
    "WorkflowInputError",
    "describe",
    "parse_template",
    "parse_workflow",
    "topological_order",
    "validate_workflow",
]
