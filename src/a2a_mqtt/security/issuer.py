"""A small local token issuer: real ES256 JWTs, keys that rotate, a JWKS to publish.

It exists for tests, the demo and benches (``a2a-mqtt token ...``); any OAuth2
/ OIDC provider that publishes a JWKS over HTTPS does the same job in
production. State lives in one directory:

* ``issuer.json``: ``{"issuer": URL, "active": KID}``;
* ``keys.json``: the private JWKS (0600), newest last. Rotation adds a key
  and makes it active; the previous one stays published (tokens it signed
  remain verifiable until they expire), older ones are dropped.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from joserfc import jwt
from joserfc.jwk import ECKey

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.security.keys import (
    SIGNING_ALG,
    load_key_set,
    new_signing_key,
    public_jwks,
    save_key_set,
)

__all__ = ["TokenIssuer"]

_KEEP_KEYS: Final = 2
_MAX_TTL: Final = 24 * 3600


class TokenIssuer:
    """The issuer in ``directory``; create one with :meth:`create`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            meta = json.loads((directory / "issuer.json").read_text(encoding="utf-8"))
            self.issuer: str = meta["issuer"]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{directory} is not a token issuer directory "
                              f"({type(exc).__name__}); run `a2a-mqtt token init`") from None

    @classmethod
    def create(cls, directory: Path, *, issuer: str) -> TokenIssuer:
        """A new issuer named ``issuer`` (its ``iss``) with one fresh key."""
        directory.mkdir(parents=True, exist_ok=True)
        key = new_signing_key()
        save_key_set(directory / "keys.json", [key])
        cls._write_meta(directory, issuer, key.kid or "")
        return cls(directory)

    @staticmethod
    def _write_meta(directory: Path, issuer: str, active: str) -> None:
        (directory / "issuer.json").write_text(
            json.dumps({"issuer": issuer, "active": active}, indent=2), encoding="utf-8")

    def _keys(self) -> list[ECKey]:
        return load_key_set(self.directory / "keys.json")

    @property
    def active_kid(self) -> str:
        return self._keys()[-1].kid or ""

    def jwks(self) -> dict[str, Any]:
        """The public JWKS to serve: every key still published."""
        return public_jwks(self._keys())

    def rotate(self) -> str:
        """Add a new active key; keep the previous one published; return the new kid."""
        key = new_signing_key()
        keys = [*self._keys(), key][-_KEEP_KEYS:]
        save_key_set(self.directory / "keys.json", keys)
        self._write_meta(self.directory, self.issuer, key.kid or "")
        return key.kid or ""

    def issue(self, *, subject: str, audience: str, scopes: Iterable[str] = (),
              ttl: int = 300, not_before: int | None = None,
              extra: dict[str, Any] | None = None) -> str:
        """A signed JWT (ES256, ``kid`` of the active key) for ``subject`` at ``audience``.

        ``scopes`` go into the space-separated ``scope`` claim (RFC 8693 §4.2).
        ``ttl`` may be negative (an already expired token, for tests).
        """
        if ttl > _MAX_TTL:
            raise ConfigError(f"ttl of {ttl}s exceeds {_MAX_TTL}s")
        key = self._keys()[-1]
        now = int(time.time())
        claims: dict[str, Any] = {**(extra or {}), "iss": self.issuer, "sub": subject,
                                  "aud": audience, "iat": now, "exp": now + ttl,
                                  "jti": uuid.uuid4().hex}
        if not_before is not None:
            claims["nbf"] = not_before
        scope = " ".join(scopes)
        if scope:
            claims["scope"] = scope
        return jwt.encode({"alg": SIGNING_ALG, "kid": key.kid, "typ": "JWT"}, claims, key,
                          algorithms=[SIGNING_ALG])
