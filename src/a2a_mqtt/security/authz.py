"""Request authorization from the card's security declarations (docs/binding.md §8.2).

A card declares ``securitySchemes`` and ``securityRequirements`` (card-level,
and per skill in ``skills[].securityRequirements``). The rules:

* A requirement list is a set of alternatives (OR); each alternative names
  schemes (AND), each with the scopes it needs. An empty alternative, or no
  list at all, means "no credentials needed". Only bearer-carrying schemes
  (HTTP ``Bearer``, OAuth2, OpenID Connect) can be satisfied here; an
  alternative that names any other scheme is never satisfied by us.
* The card-level requirement applies to every operation. A ``SendMessage`` /
  ``SendStreamingMessage`` is also held to its skill's requirement. The skill
  is ``message.metadata.skillId``, or the card's only skill; a request to an
  agent with skill-level requirements that names no (or an unknown) skill is
  refused with -32602, since otherwise a token could pick an unguarded path.
* No or invalid credentials: ``unauthenticated`` (-32010). A valid token
  without the scopes: ``permission_denied`` (-32011). Reasons never carry the
  token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from a2a.types.a2a_pb2 import (
    AgentCard,
    ClientCredentialsOAuthFlow,
    HTTPAuthSecurityScheme,
    OAuth2SecurityScheme,
    OAuthFlows,
    SecurityRequirement,
    SecurityScheme,
)
from a2a.utils.errors import InvalidParamsError

from a2a_mqtt.binding.codes import PermissionDeniedError, UnauthenticatedError
from a2a_mqtt.security.bearer import BearerVerifier, Principal, TokenRejected

__all__ = ["SKILL_METADATA_KEY", "BearerAuthorizer", "RequestAuthorizer", "declare_bearer"]

log = logging.getLogger("a2a_mqtt.security")

SKILL_METADATA_KEY: Final = "skillId"
_SEND_METHODS: Final = frozenset({"SendMessage", "SendStreamingMessage"})

Alternatives = list[dict[str, frozenset[str]]]


class RequestAuthorizer(Protocol):
    """What an agent calls for each decoded request before its handler sees it."""

    async def authorize(self, card: AgentCard, method: str, params: Any,
                        headers: Mapping[str, str]) -> Principal | None:
        """The request's principal (None when no credentials are needed); raises
        UnauthenticatedError, PermissionDeniedError or InvalidParamsError."""
        ...


def _bearer_schemes(card: AgentCard) -> frozenset[str]:
    out = set()
    for name, scheme in card.security_schemes.items():
        http_bearer = (scheme.HasField("http_auth_security_scheme")
                       and scheme.http_auth_security_scheme.scheme.lower() == "bearer")
        if http_bearer or scheme.HasField("oauth2_security_scheme") or scheme.HasField(
                "open_id_connect_security_scheme"):
            out.add(name)
    return frozenset(out)


def _alternatives(requirements: Sequence[SecurityRequirement]) -> Alternatives:
    return [{name: frozenset(scopes.list) for name, scopes in req.schemes.items()}
            for req in requirements]


def _satisfied(alternatives: Alternatives, bearer: frozenset[str], scopes: frozenset[str]
               ) -> bool:
    for alt in alternatives:
        if not set(alt) <= bearer:
            continue
        if all(needed <= scopes for needed in alt.values()):
            return True
    return False


def _needs_credentials(alternatives: Alternatives) -> bool:
    return bool(alternatives) and all(alt for alt in alternatives)


class BearerAuthorizer:
    """Authorizes requests with bearer tokens checked by ``verifier``."""

    def __init__(self, verifier: BearerVerifier) -> None:
        self.verifier = verifier

    def _skill_requirements(self, card: AgentCard, method: str, params: Any) -> Alternatives:
        if method not in _SEND_METHODS or not any(s.security_requirements for s in card.skills):
            return []
        metadata = params.message.metadata
        named = metadata[SKILL_METADATA_KEY] if SKILL_METADATA_KEY in metadata else None  # noqa: SIM401 - a Struct has no get
        if named is None and len(card.skills) == 1:
            return _alternatives(card.skills[0].security_requirements)
        if not isinstance(named, str):
            raise InvalidParamsError(
                message=f"this agent authorizes per skill: name one in "
                        f"message.metadata.{SKILL_METADATA_KEY}")
        for skill in card.skills:
            if skill.id == named:
                return _alternatives(skill.security_requirements)
        raise InvalidParamsError(message=f"unknown skill {named[:100]!r}")

    async def authorize(self, card: AgentCard, method: str, params: Any,
                        headers: Mapping[str, str]) -> Principal | None:
        stages = [alts for alts in (_alternatives(card.security_requirements),
                                    self._skill_requirements(card, method, params))
                  if _needs_credentials(alts)]
        if not stages:
            return None
        try:
            principal = await self.verifier.verify(headers.get("authorization"))
        except TokenRejected as exc:
            log.info("request %s refused: %s", method, exc.reason)
            raise UnauthenticatedError(f"bearer token rejected: {exc.reason}") from None
        bearer = _bearer_schemes(card)
        for alternatives in stages:
            if not _satisfied(alternatives, bearer, principal.scopes):
                needed = " or ".join(
                    "+".join(sorted(s for scopes in alt.values() for s in scopes)) or "-"
                    for alt in alternatives)
                log.info("request %s by %r refused: lacks scope (%s)", method,
                         principal.subject, needed)
                raise PermissionDeniedError(f"token lacks the required scope ({needed})")
        return principal


def declare_bearer(card: AgentCard, *, scheme: str = "bearer", scopes: Sequence[str] = (),
                   skill_scopes: Mapping[str, Sequence[str]] | None = None,
                   token_url: str | None = None, description: str = "") -> AgentCard:
    """A copy of ``card`` declaring a bearer scheme, its card-level scopes and per-skill scopes.

    With ``token_url`` the scheme is OAuth2 client credentials (listing every
    scope); otherwise HTTP ``Bearer`` with ``bearerFormat: JWT``.
    """
    out = AgentCard()
    out.CopyFrom(card)
    per_skill = dict(skill_scopes or {})
    if token_url:
        every = sorted({*scopes, *(s for v in per_skill.values() for s in v)})
        flow = ClientCredentialsOAuthFlow(token_url=token_url,
                                          scopes={s: s for s in every})
        out.security_schemes[scheme].CopyFrom(SecurityScheme(
            oauth2_security_scheme=OAuth2SecurityScheme(
                description=description, flows=OAuthFlows(client_credentials=flow))))
    else:
        out.security_schemes[scheme].CopyFrom(SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="Bearer", bearer_format="JWT", description=description)))
    req = SecurityRequirement()
    req.schemes[scheme].list.extend(scopes)
    del out.security_requirements[:]
    out.security_requirements.append(req)
    known = {s.id for s in out.skills}
    unknown = set(per_skill) - known
    if unknown:
        raise ValueError(f"skill_scopes names unknown skills: {sorted(unknown)}")
    for skill in out.skills:
        if skill.id in per_skill:
            del skill.security_requirements[:]
            sreq = skill.security_requirements.add()
            sreq.schemes[scheme].list.extend(per_skill[skill.id])
    return out
