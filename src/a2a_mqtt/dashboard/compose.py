"""From what a person typed to A2A request params (pure; hostile input gets a clear error).

The browser posts one JSON object per send::

    {"text": "...", "data": <any JSON> | null, "files": [{"name", "mediaType", "base64"}],
     "taskId": "...", "contextId": "...", "metadata": {...}}

and :func:`compose_send` returns the ``SendStreamingMessage`` params in the
ProtoJSON form the requester sends. A continuation (``taskId`` set) keeps
its ids; a first message gets a fresh task id and context id, as the profile
requires of a requester. Every failure is a :class:`ComposeError` whose text
says which field is wrong and how.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any, Final

from a2a_mqtt.binding.stream import new_context_id, new_task_id

__all__ = ["ComposeError", "compose_send", "parse_json_body"]

_FIELDS: Final = frozenset({"text", "data", "files", "taskId", "contextId", "metadata"})
_ID: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_MEDIA: Final = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_MAX_FILES: Final = 16
_MAX_NAME: Final = 255


class ComposeError(ValueError):
    """The send request is malformed; the message is safe to show."""


def parse_json_body(body: bytes) -> dict[str, Any]:
    """A JSON object, or ComposeError saying why not."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ComposeError(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ComposeError("the body must be a JSON object")
    return value


def _id(value: Any, name: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _ID.match(value):
        raise ComposeError(f"{name} must be 1-128 letters, digits or '_.:-'")
    return value


def _file(index: int, item: Any) -> dict[str, Any]:
    where = f"files[{index}]"
    if not isinstance(item, dict):
        raise ComposeError(f"{where} must be an object with name, mediaType, base64")
    name = item.get("name") or "file"
    media = item.get("mediaType") or "application/octet-stream"
    data = item.get("base64")
    if not isinstance(name, str) or len(name) > _MAX_NAME or any(c in name for c in "\0/\\"):
        raise ComposeError(f"{where}.name must be a plain file name of at most {_MAX_NAME} "
                           "characters")
    if not isinstance(media, str) or not _MEDIA.match(media):
        raise ComposeError(f"{where}.mediaType must look like type/subtype")
    if not isinstance(data, str):
        raise ComposeError(f"{where}.base64 must be the file content in base64")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ComposeError(f"{where}.base64 is not valid base64") from None
    return {"raw": base64.b64encode(raw).decode(), "filename": name, "mediaType": media}


def compose_send(body: dict[str, Any]) -> dict[str, Any]:
    """``SendStreamingMessage`` params for one send request from the browser."""
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ComposeError(f"unknown field(s) {', '.join(map(repr, unknown))}; known: "
                           f"{', '.join(sorted(_FIELDS))}")
    parts: list[dict[str, Any]] = []
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise ComposeError("text must be a string")
    if text:
        parts.append({"text": text})
    if body.get("data") is not None:
        parts.append({"data": body["data"], "mediaType": "application/json"})
    files = body.get("files") or []
    if not isinstance(files, list) or len(files) > _MAX_FILES:
        raise ComposeError(f"files must be a list of at most {_MAX_FILES} files")
    parts += [_file(i, f) for i, f in enumerate(files)]
    if not parts:
        raise ComposeError("nothing to send: give text, data or a file")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ComposeError("metadata must be a JSON object")
    task_id = _id(body.get("taskId"), "taskId")
    context_id = _id(body.get("contextId"), "contextId")
    message: dict[str, Any] = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER",
                               "parts": parts, "taskId": task_id or new_task_id()}
    if context_id or not task_id:
        message["contextId"] = context_id or new_context_id()
    params: dict[str, Any] = {"message": message}
    if metadata:
        params["metadata"] = metadata
    return params
