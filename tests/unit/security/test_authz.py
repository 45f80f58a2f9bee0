"""Skill-level authorization from card declarations, and hostile Authorization values (pure)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from a2a.types.a2a_pb2 import AgentSkill, Message, SendMessageRequest
from a2a.utils.errors import InvalidParamsError
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.binding.codes import PermissionDeniedError, UnauthenticatedError
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.security.authz import BearerAuthorizer, declare_bearer
from a2a_mqtt.security.bearer import (
    BearerConfig,
    BearerVerifier,
    Principal,
    TokenRejected,
)


class ScopeTable:
    """Token text -> scopes: the verification itself is tested against a real JWKS in
    tests/behaviour/security; here only the requirement logic is under test."""

    async def verify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise TokenRejected("no bearer token presented", missing=True)
        scopes = frozenset(authorization.removeprefix("Bearer ").split(","))
        return Principal(subject="s", scopes=scopes, claims={})


def card() -> Any:
    base = echo_card()
    base.skills.append(AgentSkill(id="shout", name="Shout", description="d", tags=["t"]))
    return declare_bearer(base, scopes=("use",), skill_scopes={"shout": ["admin"]},
                          token_url="https://issuer.test/token")


def send(skill: str | None) -> SendMessageRequest:
    msg = Message(message_id="m")
    if skill:
        msg.metadata.update({"skillId": skill})
    return SendMessageRequest(message=msg)


def authorize(token: str | None, method: str = "SendMessage", skill: str | None = "echo"
              ) -> Principal | None:
    authz = BearerAuthorizer(ScopeTable())  # type: ignore[arg-type]
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return asyncio.run(authz.authorize(card(), method, send(skill), headers))


def test_declaration_is_what_a2a_sdk_auth_interceptor_reads() -> None:
    declared = card()
    scheme = declared.security_schemes["bearer"]
    assert scheme.oauth2_security_scheme.flows.client_credentials.token_url
    assert list(declared.security_requirements[0].schemes["bearer"].list) == ["use"]
    shout = next(s for s in declared.skills if s.id == "shout")
    assert list(shout.security_requirements[0].schemes["bearer"].list) == ["admin"]
    with pytest.raises(ValueError, match="unknown skills"):
        declare_bearer(echo_card(), skill_scopes={"nope": ["x"]})


def test_card_level_applies_to_every_operation_skill_level_to_its_skill() -> None:
    assert authorize("use", skill="echo") is not None
    assert authorize("use", method="GetTask") is not None
    with pytest.raises(PermissionDeniedError, match="use"):
        authorize("admin", skill="echo")
    with pytest.raises(PermissionDeniedError, match="admin"):
        authorize("use", skill="shout")
    assert authorize("use,admin", skill="shout") is not None
    with pytest.raises(UnauthenticatedError):
        authorize(None, method="GetTask")


def test_skill_must_be_named_when_skills_are_guarded_differently() -> None:
    with pytest.raises(InvalidParamsError):
        authorize("use,admin", skill=None)
    with pytest.raises(InvalidParamsError, match="unknown skill"):
        authorize("use,admin", skill="nope")


def test_no_requirements_means_no_credentials_needed() -> None:
    authz = BearerAuthorizer(ScopeTable())  # type: ignore[arg-type]
    assert asyncio.run(authz.authorize(echo_card(), "SendMessage", send(None), {})) is None


_VERIFIER = BearerVerifier(BearerConfig(issuer="https://i.test", audience="a",
                                        jwks_url="https://127.0.0.1:9/jwks.json",
                                        min_refetch=3600))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=60),
                 st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", st.text(max_size=20),
                           st.text(max_size=20), st.text(max_size=20))))
def test_hostile_authorization_values_are_refused_cleanly(value: str | None) -> None:
    with pytest.raises(TokenRejected) as refused:
        asyncio.run(_VERIFIER.verify(value))
    if value and len(value) > 12:
        assert value not in refused.value.reason
