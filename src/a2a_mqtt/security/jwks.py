"""JwksCache: a remote JWKS, fetched over HTTPS with certificate validation, cached.

* Keys are looked up by ``kid``. An unknown ``kid`` triggers one re-fetch (a
  rotation at the issuer), but at most one per ``min_refetch`` seconds: a
  flood of tokens with made-up ``kid``s cannot turn us into a load on the
  issuer. The whole set is also refreshed after ``max_age`` seconds.
* Concurrent lookups share one fetch. A failed fetch keeps the keys we had.
* Only ``https://`` URLs are accepted.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path
from typing import Any, Final

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, KeySet, OKPKey, RSAKey

from a2a_mqtt.errors import ConfigError

__all__ = ["JwksCache", "JwksUnavailable", "Key", "https_context"]

log = logging.getLogger("a2a_mqtt.security")

_MAX_JWKS_BYTES: Final = 256 * 1024
_PUBLIC_KTYS: Final = frozenset({"EC", "RSA", "OKP"})
_PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "k")

Key = ECKey | RSAKey | OKPKey


class JwksUnavailable(Exception):
    """The JWKS could not be fetched (and no cached copy has the key)."""


def https_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying TLS client context trusting ``ca_file`` (system roots when None)."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class JwksCache:
    """The key set at ``url``; share one per issuer."""

    def __init__(self, url: str, *, ca_file: Path | None = None, min_refetch: float = 10.0,
                 max_age: float = 300.0, timeout: float = 5.0) -> None:
        if not url.startswith("https://"):
            raise ConfigError(f"a JWKS must be fetched over https, not {url!r}")
        self.url = url
        self._ctx = https_context(ca_file)
        self._min_refetch = min_refetch
        self._max_age = max_age
        self._timeout = timeout
        self._keys: dict[str, Key] = {}
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._lock = asyncio.Lock()
        self.fetches = 0
        """Successful fetches so far."""

    def cached(self, kid: str) -> Key | None:
        return self._keys.get(kid)

    async def key(self, kid: str) -> Key | None:
        """The key ``kid``, fetching when unknown or stale (rate-limited); None if absent."""
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self._max_age:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            fresh = time.monotonic() - self._fetched_at < self._max_age
            if key is not None and fresh:
                return key
            if time.monotonic() - self._attempted_at >= self._min_refetch or not fresh:
                await self._fetch()
            return self._keys.get(kid)

    async def key_set(self) -> KeySet:
        """Every key currently cached (fetching first if never fetched)."""
        if not self._keys:
            async with self._lock:
                if not self._keys:
                    await self._fetch()
        return KeySet(list(self._keys.values()))

    async def _download(self) -> dict[str, Key]:
        async with httpx.AsyncClient(verify=self._ctx, timeout=self._timeout,
                                     follow_redirects=False) as http:
            response = await http.get(self.url, headers={"accept": "application/json"})
        if response.status_code != 200:
            raise JwksUnavailable(f"JWKS {self.url} answered HTTP {response.status_code}")
        if len(response.content) > _MAX_JWKS_BYTES:
            raise JwksUnavailable(f"JWKS {self.url} exceeds {_MAX_JWKS_BYTES} bytes")
        return _parse(response.json())

    async def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            keys = await self._download()
        except (httpx.HTTPError, ValueError, JwksUnavailable) as exc:
            log.warning("JWKS %s not fetched: %s", self.url, exc)
            if not self._keys:
                raise JwksUnavailable(f"JWKS {self.url} unavailable: {type(exc).__name__}"
                                      ) from None
            return
        self._keys = keys
        self._fetched_at = time.monotonic()
        self.fetches += 1


def _parse(data: Any) -> dict[str, Key]:
    members = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(members, list):
        raise JwksUnavailable("a JWKS is an object with a keys array")
    keys: dict[str, Key] = {}
    for member in members:
        if not isinstance(member, dict) or member.get("kty") not in _PUBLIC_KTYS:
            continue
        if any(p in member for p in _PRIVATE_MEMBERS):
            continue  # a published private key is a leak, never a verification key
        kid = member.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            key = JWKRegistry.import_key(member)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, ECKey | RSAKey | OKPKey):
            keys[kid] = key
    return keys
