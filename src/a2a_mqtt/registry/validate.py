"""Is a retained payload an acceptable card for its discovery topic? (pure)

A card is indexed only if all of these hold, checked in this order; the first
failing step gives the reasons:

1. the payload is at most ``max_bytes`` long;
2. it is UTF-8 JSON (no BOM, no ``NaN``/``Infinity``, at most 64 levels deep;
   the binding's strict decoder, ``binding.jsontext.loads``) holding an object, and
   every value can be written out again: no string holds a lone surrogate
   (``"\\ud800"`` decodes, but cannot be encoded as UTF-8), no number
   overflows a double (``1e400``; a2a-sdk carries JSON numbers as doubles);
3. it satisfies the A2A 1.0 AgentCard schema, EMQX's registry rules (no
   unknown fields, skills with non-empty tags, ...): ``binding.card``;
4. the binding's own rules (docs/binding.md §5.1, §5.2): an interface that
   claims the MQTT binding (URI or alias) has protocol version 1.0 and a
   broker URL (``mqtt://``, ``mqtts://``, ``ws://``, ``wss://`` with a host);
   a routing extension names a valid agent reference equal to the topic's.

The fast schema check (``fastcheck``) decides; reasons come from the
reference validator, which is also trusted should the two ever disagree.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

import jsonschema

from a2a_mqtt.binding.card import ROUTING_EXTENSION_URI, is_mqtt_binding
from a2a_mqtt.binding.card_schema import agent_card_schema
from a2a_mqtt.binding.jsontext import NotJSONError, UnrepresentableError, loads
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.registry.fastcheck import card_is_valid

__all__ = ["MAX_REASONS", "Verdict", "binding_problems", "check_card", "printable",
           "schema_problems"]

log = logging.getLogger("a2a_mqtt.registry")

MAX_REASONS: Final = 10
_MAX_REASON_CHARS: Final = 300
_BROKER_SCHEMES: Final = frozenset({"mqtt", "mqtts", "ws", "wss"})

# A JSON escape of a UTF-16 surrogate: the text may hold a lone one (checked by walking).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(data: Any) -> str | None:
    """Where in ``data`` a string (or key) holds a lone surrogate, or None.

    The decoder is the binding's (binding.jsontext); this walk only names the place
    in the card's own path notation (``skills/0/tags/1``) for the rejection reason.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return path or "(card)"
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}/{key}" if path else str(key)
                stack.append((where + " (key)", key))
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}/{i}" if path else str(i), item)
                         for i, item in enumerate(value))
    return None


def printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) escaped."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Verdict(NamedTuple):
    """``data`` (the decoded card) when acceptable, else ``reasons`` (never both)."""

    data: dict[str, Any] | None
    reasons: tuple[str, ...] = ()


def _clip(reasons: list[str]) -> tuple[str, ...]:
    out = [printable(r if len(r) <= _MAX_REASON_CHARS else r[:_MAX_REASON_CHARS - 1] + "…")
           for r in reasons[:MAX_REASONS]]
    if len(reasons) > MAX_REASONS:
        out.append(f"... and {len(reasons) - MAX_REASONS} more")
    return tuple(out)


def check_card(ref: AgentRef, payload: bytes, *, max_bytes: int) -> Verdict:
    """Decide whether ``payload`` (non-empty) is an acceptable card for ``ref``."""
    if len(payload) > max_bytes:
        return Verdict(None, (f"card payload of {len(payload)} bytes exceeds the "
                              f"limit of {max_bytes} bytes",))
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Verdict(None, (f"card payload is not UTF-8: {exc}",))
    try:
        # The binding's strict decoder; a card's numbers are doubles to a2a-sdk, so any
        # integer a double holds is fine (binding.jsontext.loads, int_range=None).
        data = loads(text, int_range=None)
    except NotJSONError as exc:
        return Verdict(None, (f"card payload is not JSON: {exc}",))
    except UnrepresentableError as exc:
        return Verdict(None, (f"card payload cannot be represented: {exc}",))
    except ValueError as exc:
        return Verdict(None, (f"card payload is not JSON: {exc}",))
    if not isinstance(data, dict):
        return Verdict(None, (f"card payload is a JSON {type(data).__name__}, not an object",))
    if _SURROGATE_ESCAPE.search(text):
        where = _lone_surrogate(data)
        if where is not None:
            return Verdict(None, (f"{printable(where)}: a string holds a lone UTF-16 surrogate "
                                  "(such as \\ud800), which cannot be encoded as UTF-8",))
    if not card_is_valid(data):
        problems = schema_problems(data)
        if problems:
            return Verdict(None, _clip(problems))
        log.warning("fast card check and jsonschema disagree on %s; trusting jsonschema", ref)
    problems = binding_problems(data, ref)
    if problems:
        return Verdict(None, _clip(problems))
    return Verdict(data)


@cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(agent_card_schema())


def schema_problems(data: Any) -> list[str]:
    """Every violation of the card schema (and of "a skill needs a tag"), as ``path: message``.

    The same lines as ``binding.card.card_problems``, but total: that function
    raises TypeError when ``skills`` is a number or boolean.
    """
    problems = [f"{'/'.join(str(p) for p in err.absolute_path) or '(card)'}: {err.message}"
                for err in sorted(_validator().iter_errors(data),
                                  key=lambda e: list(e.absolute_path))]
    skills = data.get("skills") if isinstance(data, dict) else None
    if isinstance(skills, list):
        for i, skill in enumerate(skills):
            if isinstance(skill, dict) and skill.get("tags") == []:
                problems.append(f"skills/{i}/tags: a skill needs at least one tag")
    return problems


def _version_is_1_0(version: str) -> bool:
    parts = version.strip().split(".")
    try:
        return len(parts) >= 2 and int(parts[0]) == 1 and int(parts[1]) == 0
    except ValueError:
        return False


_URL_CACHE_MAX: Final = 1024
_url_problems: dict[str, str | None] = {}


def _broker_url_problem(url: str) -> str | None:
    """Why ``url`` is not a broker URL, or None; memoised (fleets share a few URLs)."""
    if url in _url_problems:
        return _url_problems[url]
    if len(_url_problems) >= _URL_CACHE_MAX:
        _url_problems.clear()  # bounded: card authors choose these strings
    problem = _url_problems[url] = _check_broker_url(url)
    return problem


def _check_broker_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"{url!r} is not a broker URL: {exc}"
    if parts.scheme.lower() not in _BROKER_SCHEMES or not parts.hostname:
        return (f"{url!r} is not a broker URL (mqtt://, mqtts://, ws:// or wss:// "
                "with a host)")
    return None


def binding_problems(data: dict[str, Any], ref: AgentRef) -> list[str]:
    """Violations of the binding's interface and routing rules by a schema-valid card."""
    problems: list[str] = []
    for i, iface in enumerate(data.get("supportedInterfaces") or ()):
        if not is_mqtt_binding(iface.get("protocolBinding", "")):
            continue
        version = iface.get("protocolVersion", "")
        if not _version_is_1_0(version):
            problems.append(f"supportedInterfaces/{i}/protocolVersion: the MQTT binding "
                            f"needs protocol version 1.0, got {version!r}")
        url_problem = _broker_url_problem(iface.get("url", ""))
        if url_problem:
            problems.append(f"supportedInterfaces/{i}/url: {url_problem}")
    key = str(ref)
    capabilities = data.get("capabilities") or {}
    for i, ext in enumerate(capabilities.get("extensions") or ()):
        if ext.get("uri") != ROUTING_EXTENSION_URI:
            continue
        params = ext.get("params") or {}
        named = params.get("agentRef")
        if named is None:
            continue  # docs/binding.md §5.2: look at the next routing extension
        if named == key:
            break
        where = f"capabilities/extensions/{i}/params/agentRef"
        try:
            routed = AgentRef.parse(named) if isinstance(named, str) else None
        except ConfigError:
            routed = None
        if routed is None:
            problems.append(f"{where}: {named!r} is not a valid agent reference")
        elif routed != ref:
            problems.append(f"{where}: the routing extension names {routed} but the card "
                            f"is retained on the discovery topic of {ref}")
        break
    return problems
