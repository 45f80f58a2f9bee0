"""BearerVerifier: a request's ``a2a-authorization: Bearer <JWT>``, verified.

Checks, in order, each failure a :class:`TokenRejected` with a reason that
never contains the token:

1. the value is ``Bearer <compact JWS>`` with a ``kid`` and an allowed ``alg``;
2. the key: from the issuer's JWKS over HTTPS (:class:`JwksCache`: cached,
   re-fetched on an unknown ``kid``, rate-limited);
3. the signature;
4. ``iss`` and ``aud`` (exact), ``exp`` (required) and ``nbf``/``iat`` with at
   most ``leeway`` seconds of clock skew (bounded to 5 minutes).

The result is a :class:`Principal`: subject, scopes (``scope`` as a space
separated string, or ``scp`` as a list), and the claims.

A token that verified is remembered (by its SHA-256, never the token itself)
until its ``exp``: clients reuse a token for its lifetime, and the signature
need not be checked again. The time claims are re-checked on every use, so a
remembered token still expires on time. The cache is bounded (LRU).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwt import JWTClaimsRegistry

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.security.jwks import JwksCache, JwksUnavailable

__all__ = ["BearerConfig", "BearerVerifier", "Principal", "TokenRejected"]

_MAX_LEEWAY: Final = 300
_MAX_TOKEN_CHARS: Final = 16 * 1024
_CACHE_SIZE: Final = 10_000
_ALLOWED_ALGS: Final = ("ES256", "ES384", "RS256", "PS256", "EdDSA")


class TokenRejected(Exception):
    """The credentials were refused; ``reason`` is safe to return and to log."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing
        """True when no credentials were presented at all."""


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who a verified token speaks for, and what it grants."""

    subject: str
    scopes: frozenset[str]
    claims: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:  # never the claims: they may carry personal data
        return f"Principal(subject={self.subject!r}, scopes={sorted(self.scopes)})"


@dataclass(frozen=True, kw_only=True)
class BearerConfig:
    """Who we accept tokens from, and for whom."""

    issuer: str
    """Expected ``iss``."""
    audience: str
    """Expected ``aud`` (this agent's identifier at the issuer)."""
    jwks_url: str
    """``https://`` URL of the issuer's JWKS."""
    ca_file: Path | None = None
    """CA bundle for the JWKS server's certificate (system roots when None)."""
    leeway: int = 30
    """Clock skew tolerated on ``exp``/``nbf``/``iat``, seconds (at most 300)."""
    algorithms: tuple[str, ...] = ("ES256", "RS256")
    min_refetch: float = 10.0
    """At most one JWKS fetch per this many seconds for unknown ``kid``s."""
    max_age: float = 300.0
    """The JWKS is re-fetched after this many seconds."""

    def __post_init__(self) -> None:
        if not 0 <= self.leeway <= _MAX_LEEWAY:
            raise ConfigError(f"leeway must be between 0 and {_MAX_LEEWAY} seconds")
        bad = [a for a in self.algorithms if a not in _ALLOWED_ALGS]
        if bad or not self.algorithms:
            raise ConfigError(f"algorithms must be among {_ALLOWED_ALGS}; got {bad}")
        if not self.issuer or not self.audience:
            raise ConfigError("issuer and audience are required")
        if not self.jwks_url.startswith("https://"):
            raise ConfigError("jwks_url must be an https:// URL")


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    return frozenset()


class BearerVerifier:
    """Verifies bearer tokens of one issuer for one audience."""

    def __init__(self, config: BearerConfig, *, jwks: JwksCache | None = None) -> None:
        self.config = config
        self.jwks = jwks or JwksCache(config.jwks_url, ca_file=config.ca_file,
                                      min_refetch=config.min_refetch, max_age=config.max_age)
        self._claims = JWTClaimsRegistry(
            now=lambda: int(time.time()), leeway=config.leeway,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.audience},
            exp={"essential": True})
        self._verified: OrderedDict[bytes, Principal] = OrderedDict()

    async def verify(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` value; TokenRejected if not acceptable."""
        digest = hashlib.sha256((authorization or "").encode("utf-8", "replace")).digest()
        known = self._verified.get(digest)
        if known is not None:
            try:
                self._claims.validate(known.claims)  # exp/nbf again: time moved on
            except JoseError:
                del self._verified[digest]
            else:
                self._verified.move_to_end(digest)
                return known
        principal = await self._verify(authorization)
        self._verified[digest] = principal
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.strip():
            raise TokenRejected("no bearer token presented", missing=True)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRejected("credentials are not a Bearer token")
        if len(token) > _MAX_TOKEN_CHARS:
            raise TokenRejected("bearer token too large")
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError):
            raise TokenRejected("bearer token is not a compact JWS") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.config.algorithms:
            raise TokenRejected(f"token algorithm {alg!r} not accepted")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("token header has no kid")
        try:
            key = await self.jwks.key(kid)
        except JwksUnavailable:
            raise TokenRejected("issuer keys unavailable") from None
        if key is None:
            raise TokenRejected(f"unknown signing key (kid {kid[:64]!r})")
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except BadSignatureError:
            raise TokenRejected("bad token signature") from None
        except (JoseError, ValueError):
            raise TokenRejected("token could not be verified") from None
        claims = decoded.claims
        try:
            self._claims.validate(claims)
        except ExpiredTokenError:
            raise TokenRejected("token expired") from None
        except MissingClaimError as exc:
            raise TokenRejected(f"token lacks a required claim: {exc.description}") from None
        except InvalidClaimError as exc:  # joserfc's InvalidTokenError is this class too
            name = getattr(exc, "claim", "")
            if name in ("nbf", "iat"):
                raise TokenRejected("token not yet valid (nbf/iat in the future)") from None
            raise TokenRejected(f"token {name or 'claim'} not accepted") from None
        except JoseError:
            raise TokenRejected("token claims not accepted") from None
        subject = claims.get("sub")
        return Principal(subject=subject if isinstance(subject, str) else "",
                         scopes=_scopes(claims), claims=claims)
