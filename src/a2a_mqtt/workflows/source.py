"""YAML text to plain values, remembering the line of every node.

Only the safe YAML subset is read: scalars go through PyYAML's
``SafeConstructor`` (no Python object tags), and anchors/aliases and merge
keys are refused outright, so a small text can never expand into a huge tree
(billion laughs) and every value has exactly one line. Every failure, whatever
PyYAML raised, becomes a :class:`WorkflowError` with a line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from a2a_mqtt.workflows.errors import WorkflowError

__all__ = ["MAX_DEPTH", "MAX_TEXT", "Located", "load_located"]

MAX_TEXT = 1_000_000
MAX_DEPTH = 64

Path = tuple[str | int, ...]

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


@dataclass(frozen=True)
class Located:
    """A plain value (dict/list/scalars) and the 1-based line of each path in it."""

    value: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            found = self.lines.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.lines.get((), 1)


def _mark_line(exc: BaseException) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    return 1


def _reader_error(text: str, exc: yaml.reader.ReaderError) -> WorkflowError:
    line = text.count("\n", 0, max(0, int(exc.position))) + 1
    return WorkflowError(f"unreadable character: {exc.reason}", line=line)


def load_located(text: str) -> Located:
    """Parse one YAML document; raise WorkflowError (with a line) for anything unusable."""
    if len(text) > MAX_TEXT:
        raise WorkflowError(f"the workflow file is larger than {MAX_TEXT} characters", line=1)
    try:
        # The reader checks the characters as soon as the loader is made.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, exc) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.reader.ReaderError as exc:
            raise _reader_error(text, exc) from None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise WorkflowError(f"not valid YAML: {problem}", line=_mark_line(exc)) from None
        except RecursionError:
            raise WorkflowError("the YAML nests too deeply", line=1) from None
        if node is None:
            raise WorkflowError("the workflow file is empty", line=1)
        lines: dict[Path, int] = {}
        value = _convert(loader, node, (), lines, set())
        return Located(value=value, lines=lines)
    finally:
        loader.dispose()


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path,
             lines: dict[Path, int], seen: set[int]) -> Any:
    line = int(node.start_mark.line) + 1
    lines[path] = line
    if id(node) in seen:
        raise WorkflowError("YAML anchors and aliases are not supported", line=line)
    seen.add(id(node))
    if len(path) > MAX_DEPTH:
        raise WorkflowError(f"the YAML nests deeper than {MAX_DEPTH} levels", line=line)
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP:
            raise WorkflowError(f"unsupported YAML tag {node.tag!r}", line=line)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = int(key_node.start_mark.line) + 1
            if id(key_node) in seen:
                raise WorkflowError("YAML anchors and aliases are not supported", line=key_line)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise WorkflowError("YAML merge keys ('<<') are not supported", line=key_line)
            if not isinstance(key_node, yaml.ScalarNode):
                raise WorkflowError("a mapping key must be a plain string", line=key_line)
            key = _scalar(loader, key_node, key_line)
            if not isinstance(key, str):
                key = str(key) if isinstance(key, int | float | bool) or key is None else None
                if key is None:
                    raise WorkflowError("a mapping key must be a plain string", line=key_line)
            if key in result:
                raise WorkflowError(f"duplicate key {key!r}", line=key_line)
            if id(value_node) in seen:
                # The node keeps the anchor's position; the key is where the alias is used.
                raise WorkflowError("YAML anchors and aliases are not supported", line=key_line)
            result[key] = _convert(loader, value_node, (*path, key), lines, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise WorkflowError(f"unsupported YAML tag {node.tag!r}", line=line)
        return [_convert(loader, item, (*path, index), lines, seen)
                for index, item in enumerate(node.value)]
    return _scalar(loader, node, line)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, line: int) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowError(f"unusable YAML value: {problem}", line=line) from None
    except (ValueError, OverflowError, TypeError) as exc:
        raise WorkflowError(f"unusable YAML value: {exc}", line=line) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise WorkflowError("numbers must be finite (no .nan or .inf)", line=line)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise WorkflowError(f"unsupported YAML value of type {type(value).__name__}", line=line)
