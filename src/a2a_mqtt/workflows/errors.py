"""The workflow exceptions, all under :class:`a2a_mqtt.errors.ConfigError`.

``WorkflowError`` is a refused definition: it always carries the 1-based line
of the YAML text it points at (line 1 for a definition built in Python) and the
dotted path of the offending field, so a reader can go straight to it.
``WorkflowInputError`` is a run started with inputs the definition does not
accept. ``TemplateError`` is a template that could not be rendered at run time
(a value missing from a step's output): the step fails, the run does not hang.
"""

from __future__ import annotations

from a2a_mqtt.errors import ConfigError

__all__ = ["TemplateError", "WorkflowError", "WorkflowInputError"]


class WorkflowError(ConfigError):
    """A workflow definition was refused; ``line`` and ``path`` say where, ``reason`` why."""

    def __init__(self, reason: str, *, line: int, path: str = "") -> None:
        self.reason = reason
        self.line = max(1, int(line))
        self.path = path
        where = f"line {self.line}" + (f": {path}" if path else "")
        super().__init__(f"{where}: {reason}")


class WorkflowInputError(ConfigError):
    """The inputs given to a run do not match the definition's ``inputs``."""


class TemplateError(ConfigError):
    """A template referred to a value the run does not have (yet)."""
