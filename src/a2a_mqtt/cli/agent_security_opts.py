"""Agent-side security flags for ``a2a-mqtt example``: verified bearer tokens, a signed card.

``--require-token-from JWKS_URL --token-issuer ISS`` maps onto
:class:`~a2a_mqtt.security.bearer.BearerConfig` (the audience is the agent's own
ref) and :class:`~a2a_mqtt.security.authz.BearerAuthorizer`; the card then declares
the bearer scheme (:func:`~a2a_mqtt.security.authz.declare_bearer`) with the
``--token-scope`` scopes. ``--sign-card KEY_FILE`` maps onto
:class:`~a2a_mqtt.security.cards.CardSigner` (a key set from ``a2a-mqtt card keygen``;
its last key signs, re-read at each publish so a rotation applies).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from a2a.types.a2a_pb2 import AgentCard

    from a2a_mqtt.binding.topics import AgentRef

__all__ = ["AgentSecurity", "agent_security_options"]


@dataclass(frozen=True, slots=True)
class AgentSecurity:
    """What the flags asked for (nothing: the agent serves without these mechanisms)."""

    jwks_url: str | None = None
    issuer: str | None = None
    ca_file: Path | None = None
    scopes: tuple[str, ...] = ()
    sign_key: Path | None = None
    jku: str | None = None

    def apply(self, ref: AgentRef, card: AgentCard) -> tuple[AgentCard, dict[str, Any]]:
        """The card to serve and the extra AgentConfig options. Raises ConfigError."""
        from a2a_mqtt.security.authz import BearerAuthorizer, declare_bearer  # noqa: PLC0415
        from a2a_mqtt.security.bearer import BearerConfig, BearerVerifier  # noqa: PLC0415
        from a2a_mqtt.security.cards import CardSigner  # noqa: PLC0415

        extra: dict[str, Any] = {}
        if self.jwks_url is not None:
            assert self.issuer is not None
            verifier = BearerVerifier(BearerConfig(issuer=self.issuer, audience=str(ref),
                                                   jwks_url=self.jwks_url,
                                                   ca_file=self.ca_file))
            extra["authorizer"] = BearerAuthorizer(verifier)
            card = declare_bearer(card, scopes=self.scopes)
        if self.sign_key is not None:
            extra["card_signer"] = CardSigner(key_file=self.sign_key, jku=self.jku)
        return card, extra


def agent_security_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the flags; the command receives ``security: AgentSecurity``."""
    @click.option("--require-token-from", "jwks_url", default=None, metavar="JWKS_URL",
                  help="Verify a bearer token on every request against this https:// JWKS "
                       "(audience: the agent's ref); the card declares the scheme.")
    @click.option("--token-issuer", default=None, metavar="ISS",
                  help="With --require-token-from: the tokens' expected iss.")
    @click.option("--token-ca", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                  default=None, help="With --require-token-from: CA bundle for the JWKS "
                  "server (default: system roots).")
    @click.option("--token-scope", "scopes", multiple=True,
                  help="With --require-token-from: a scope every request needs (repeatable).")
    @click.option("--sign-card", "sign_key", default=None, metavar="KEY_FILE",
                  type=click.Path(path_type=Path, dir_okay=False, exists=True),
                  help="Sign the published card with this key set (a2a-mqtt card keygen).")
    @click.option("--card-jku", default=None, metavar="URL",
                  help="With --sign-card: the signer's JWKS URL, put in the signature header.")
    @functools.wraps(f)
    def wrapper(*args: Any, jwks_url: str | None, token_issuer: str | None,
                token_ca: Path | None, scopes: tuple[str, ...], sign_key: Path | None,
                card_jku: str | None, **kwargs: Any) -> Any:
        if jwks_url is None and (token_issuer or token_ca or scopes):
            raise click.UsageError("--token-issuer, --token-ca and --token-scope need "
                                   "--require-token-from")
        if jwks_url is not None and not token_issuer:
            raise click.UsageError("--require-token-from needs --token-issuer")
        if card_jku is not None and sign_key is None:
            raise click.UsageError("--card-jku needs --sign-card")
        security = AgentSecurity(jwks_url=jwks_url, issuer=token_issuer, ca_file=token_ca,
                                 scopes=scopes, sign_key=sign_key, jku=card_jku)
        return f(*args, security=security, **kwargs)
    return wrapper
