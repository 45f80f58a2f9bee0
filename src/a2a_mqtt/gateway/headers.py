"""Which HTTP request headers travel on to the agent as service parameters (pure).

A2A service parameters are HTTP headers on the HTTP bindings and ``a2a-*``
User Properties on MQTT (docs/binding.md §4.3). The gateway forwards:

* ``Authorization``, ``A2A-Version``, ``A2A-Extensions`` (under those names,
  so they replace the requester's own ``A2A-Version: 1.0`` default);
* every other ``A2A-*`` header and every ``X-*`` header, except the proxy
  bookkeeping ones (``X-Forwarded-*``, ``X-Real-IP``);
* the header named by each API-key security scheme of the agent's card;
* any header named in ``GatewayConfig.forward_headers``.

Nothing else (``Host``, ``Cookie``, ``Accept``, ...) leaves the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from a2a.types.a2a_pb2 import AgentCard

__all__ = ["api_key_headers", "service_parameters_from_headers"]

_CANONICAL: Final = {
    "authorization": "Authorization",
    "a2a-version": "A2A-Version",
    "a2a-extensions": "A2A-Extensions",
}
_NEVER: Final = frozenset({"x-real-ip", "x-request-id-internal"})
_NEVER_PREFIXES: Final = ("x-forwarded-",)
# Unprefixed names that would read back as A2A-Version / A2A-Extensions on MQTT.
_AMBIGUOUS: Final = frozenset({"version", "extensions"})


def api_key_headers(card: AgentCard | None) -> frozenset[str]:
    """Lower-cased names of the headers the card's API-key schemes read credentials from."""
    if card is None:
        return frozenset()
    names = set()
    for scheme in card.security_schemes.values():
        if scheme.HasField("api_key_security_scheme"):
            key = scheme.api_key_security_scheme
            if key.location.lower() == "header" and key.name:
                names.add(key.name.strip().lower())
    return frozenset(names)


def service_parameters_from_headers(
    headers: Mapping[str, str], *, extra: Iterable[str] = (),
) -> dict[str, str]:
    """The service parameters to send for an HTTP request's ``headers``.

    ``headers`` may use any case (Starlette gives lower case); ``extra`` names
    further headers to forward. Values are passed unchanged.
    """
    wanted = {name.strip().lower() for name in extra}
    out: dict[str, str] = {}
    for raw_name, value in headers.items():
        name = raw_name.lower()
        if name in _CANONICAL:
            out[_CANONICAL[name]] = value
        elif name in _AMBIGUOUS or name in _NEVER or name.startswith(_NEVER_PREFIXES):
            continue
        elif name.startswith(("a2a-", "x-")) or name in wanted:
            out[name] = value
    return out
