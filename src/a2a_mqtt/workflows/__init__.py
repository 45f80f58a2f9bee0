"""Workflows: declarative multi-agent pipelines (issue #14; see docs/workflows.md).

What exists: the definition (YAML or frozen dataclasses) with its validation,
the template language, the run-state model with a pure scheduler
(``workflows.state``, ``workflows.scheduler``), a minimal in-process runner over
MQTT (``workflows.runner``) and a durable event log (``workflows.store``). The HA
supervisors of the design build on these.
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
