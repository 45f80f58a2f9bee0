"""URL layout of the gateway, and the Agent Card that advertises it (pure, no I/O).

Every agent lives under its reference: ``/{org}/{unit}/{agent}`` and a pool
under ``/{org}/{unit}/pool/{pool}``. Below that prefix:

==============================  =========================================
``.well-known/agent-card.json``  the rewritten Agent Card (GET)
``/`` (the prefix itself)        the JSON-RPC endpoint (POST)
``/rest/...``                    the HTTP+JSON endpoints (``/rest/message:send``, ...)
==============================  =========================================

``/org/unit/pool/x/...`` is ambiguous: pool ``x`` or agent ``pool`` with the
sub-path ``/x/...``. :func:`candidates` lists both readings, pool first; the
caller takes the first one its directory knows.

The card an MQTT agent publishes lists its MQTT interface (and maybe others).
Served by the gateway it must tell an HTTP client where to call, so
:func:`gateway_card` puts the gateway's endpoints first, in preference order:

1. ``JSONRPC`` at ``{base}/{org}/{unit}/{agent}``;
2. ``HTTP+JSON`` at ``{base}/{org}/{unit}/{agent}/rest``;
3. then every interface the agent declared itself (the MQTT interface among
   them), in its own order, minus exact duplicates of 1 and 2.

The tenant of the agent's MQTT interface, if any, is copied to both gateway
interfaces so HTTP clients stamp it too. Nothing else in the card changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from a2a.types.a2a_pb2 import AgentCard, AgentInterface
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol

from a2a_mqtt.binding.card import find_mqtt_interface
from a2a_mqtt.binding.topics import AgentRef, is_valid_identifier

__all__ = [
    "REST_PREFIX",
    "Target",
    "agent_path",
    "candidates",
    "gateway_card",
    "gateway_interfaces",
    "jsonrpc_url",
    "rest_url",
]

REST_PREFIX = "/rest"
_POOL = "pool"


@dataclass(frozen=True, slots=True)
class Target:
    """One reading of a request path: the agent, its URL prefix and what follows it."""

    ref: AgentRef
    prefix: str
    """``/org/unit/agent`` (no trailing slash)."""
    rest: str
    """The sub-path below the prefix, always starting with ``/``."""


def agent_path(ref: AgentRef) -> str:
    """``org/unit/agent`` or ``org/unit/pool/ID``: the URL path of an agent, no slashes around."""
    return str(ref)


def jsonrpc_url(base_url: str, ref: AgentRef) -> str:
    """Where the gateway serves the agent's JSON-RPC binding."""
    return f"{base_url.rstrip('/')}/{agent_path(ref)}"


def rest_url(base_url: str, ref: AgentRef) -> str:
    """Where the gateway serves the agent's HTTP+JSON binding."""
    return f"{jsonrpc_url(base_url, ref)}{REST_PREFIX}"


def _target(segments: list[str], count: int, ref: AgentRef) -> Target:
    prefix = "/" + "/".join(segments[:count])
    rest = "/" + "/".join(segments[count:])
    return Target(ref, prefix, rest)


def candidates(path: str) -> list[Target]:
    """The agents a request path may name, most specific first (empty if none).

    A trailing slash is kept in ``rest`` (``/org/unit/a/`` gives ``rest='/'``),
    and so is a double slash further down: only the first segments are parsed.
    """
    if not path.startswith("/"):
        return []
    segments = path[1:].split("/")
    if len(segments) < 3 or not all(is_valid_identifier(s) for s in segments[:3]):
        return []
    org, unit, third = segments[:3]
    found: list[Target] = []
    if third == _POOL and len(segments) >= 4 and is_valid_identifier(segments[3]):
        found.append(_target(segments, 4, AgentRef(org, unit, segments[3], pool=True)))
    found.append(_target(segments, 3, AgentRef(org, unit, third)))
    return found



def gateway_interfaces(base_url: str, ref: AgentRef, *, tenant: str = "") -> list[AgentInterface]:
    """The gateway's JSON-RPC and HTTP+JSON interfaces for ``ref``, in that order."""
    return [
        AgentInterface(url=url, protocol_binding=binding.value,
                       protocol_version=PROTOCOL_VERSION_1_0, tenant=tenant)
        for url, binding in ((jsonrpc_url(base_url, ref), TransportProtocol.JSONRPC),
                             (rest_url(base_url, ref), TransportProtocol.HTTP_JSON))
    ]


def gateway_card(card: AgentCard, *, base_url: str, ref: AgentRef) -> AgentCard:
    """A copy of ``card`` listing the gateway's endpoints first (see the module docstring)."""
    mqtt = find_mqtt_interface(card)
    ours = gateway_interfaces(base_url, ref, tenant=mqtt.tenant if mqtt is not None else "")
    out = AgentCard()
    out.CopyFrom(card)
    del out.supported_interfaces[:]
    out.supported_interfaces.extend(ours)
    out.supported_interfaces.extend(i for i in card.supported_interfaces if i not in ours)
    return out
