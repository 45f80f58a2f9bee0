"""Signed Agent Cards (A2A 1.0 ``signatures``): sign, and verify under a policy.

**Signing.** The signed content is the RFC 8785 (JCS) canonical JSON of the
card's ProtoJSON with ``signatures`` removed. Each signature is a JWS in
flattened JSON form with a *detached* payload: ``{"protected", "signature"}``
(``AgentCardSignature``). The protected header carries ``alg`` and ``kid`` and,
when the signer publishes its keys, ``jku``.

**Verifying.** :class:`CardPolicy` takes the card's JSON as received (never a
re-encoding), re-derives the canonical content and accepts the card when at
least one signature verifies with a trusted key: a key given in
``trusted_keys``, or one fetched over HTTPS from a ``jku`` under a trusted
prefix. ``mode`` says what an unverified card means to the caller: ``off``
(not checked), ``warn`` (kept, flagged with the reason) or ``require``
(rejected with the reason).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import rfc8785
from a2a.types.a2a_pb2 import AgentCard
from a2a.utils.proto_utils import parse_lenient
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import FlattenedJSONSerialization
from joserfc.util import json_b64decode, urlsafe_b64encode

from a2a_mqtt.binding.card import card_to_dict
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.security.jwks import JwksCache, Key
from a2a_mqtt.security.keys import SIGNING_ALG, load_key_set

__all__ = ["CardCheck", "CardPolicy", "CardSigner", "canonical_card", "sign_card_data"]

log = logging.getLogger("a2a_mqtt.security")

PolicyMode = Literal["off", "warn", "require"]
_MODES: Final = ("off", "warn", "require")
_MAX_SIGNATURES: Final = 8


def canonical_card(data: dict[str, Any]) -> bytes:
    """The signed content of a card: RFC 8785 JSON of ``data`` without ``signatures``."""
    return rfc8785.dumps({k: v for k, v in data.items() if k != "signatures"})


def sign_card_data(data: dict[str, Any], key: ECKey, *, jku: str | None = None
                   ) -> dict[str, Any]:
    """A copy of the card JSON ``data`` carrying one signature by ``key`` (replacing any)."""
    if not key.kid:
        raise ConfigError("a card signing key needs a kid")
    protected: dict[str, Any] = {"alg": SIGNING_ALG, "kid": key.kid}
    if jku:
        protected["jku"] = jku
    flat = jws.serialize_json({"protected": protected}, canonical_card(data), key,
                              algorithms=[SIGNING_ALG])
    out = {k: v for k, v in data.items() if k != "signatures"}
    out["signatures"] = [{"protected": flat["protected"], "signature": flat["signature"]}]
    return out


class CardSigner:
    """Signs an agent's cards with the active (last) key of a key-set file, or a key."""

    def __init__(self, *, key: ECKey | None = None, key_file: Path | None = None,
                 jku: str | None = None) -> None:
        if (key is None) == (key_file is None):
            raise ConfigError("CardSigner takes exactly one of key and key_file")
        self._key = key
        self._key_file = key_file
        self.jku = jku

    @property
    def key(self) -> ECKey:
        """The signing key; re-read from ``key_file`` each time, so a rotation is used at
        the next publish."""
        if self._key is not None:
            return self._key
        assert self._key_file is not None
        return load_key_set(self._key_file)[-1]

    def sign(self, card: AgentCard) -> AgentCard:
        """A signed copy of ``card``."""
        signed = sign_card_data(card_to_dict(card), self.key, jku=self.jku)
        out: AgentCard = parse_lenient(signed, AgentCard())
        return out


@dataclass(frozen=True, slots=True)
class CardCheck:
    """The verdict on one card: ``verified`` with the signer's ``kid``, or ``reasons``."""

    verified: bool
    kid: str = ""
    reasons: tuple[str, ...] = ()


class CardPolicy:
    """How strictly cards must be signed, and by whom."""

    def __init__(self, *, mode: PolicyMode = "warn", trusted_keys: Sequence[ECKey] = (),
                 trusted_jku_prefixes: Sequence[str] = (), ca_file: Path | None = None) -> None:
        if mode not in _MODES:
            raise ConfigError(f"card policy mode must be one of {_MODES}")
        bad = [p for p in trusted_jku_prefixes if not p.startswith("https://")]
        if bad:
            raise ConfigError(f"trusted JKU prefixes must be https:// URLs: {bad}")
        self.mode: PolicyMode = mode
        self._keys = {k.kid: k for k in trusted_keys if k.kid}
        self._prefixes = tuple(trusted_jku_prefixes)
        self._ca_file = ca_file
        self._jkus: dict[str, JwksCache] = {}
        self._fetches: set[asyncio.Task[None]] = set()

    @classmethod
    def from_files(cls, *, mode: PolicyMode, key_files: Sequence[Path] = (),
                   trusted_jku_prefixes: Sequence[str] = (),
                   ca_file: Path | None = None) -> CardPolicy:
        keys = [k for path in key_files for k in load_key_set(path)]
        public = [ECKey.import_key(k.as_dict(private=False)) for k in keys]
        return cls(mode=mode, trusted_keys=public, trusted_jku_prefixes=trusted_jku_prefixes,
                   ca_file=ca_file)

    def check(self, data: Any) -> CardCheck:
        """Verify the card JSON ``data`` as received (regardless of ``mode``)."""
        if not isinstance(data, dict):
            return CardCheck(False, reasons=("card is not a JSON object",))
        sigs = data.get("signatures")
        if not sigs:
            return CardCheck(False, reasons=("card is not signed",))
        if not isinstance(sigs, list):
            return CardCheck(False, reasons=("signatures is not a list",))
        try:
            payload = urlsafe_b64encode(canonical_card(data)).decode("ascii")
        except (rfc8785.CanonicalizationError, ValueError, TypeError):
            return CardCheck(False, reasons=("card cannot be canonicalized (RFC 8785)",))
        reasons = []
        for i, sig in enumerate(sigs[:_MAX_SIGNATURES]):
            ok, why = self._verify_one(sig, payload)
            if ok:
                return CardCheck(True, kid=why)
            reasons.append(f"signatures/{i}: {why}")
        return CardCheck(False, reasons=tuple(reasons))

    async def prefetch(self, data: Any) -> None:
        """Fetch the keys a card's trusted ``jku`` names, so :meth:`check` can use them."""
        for sig in (data.get("signatures") or []) if isinstance(data, dict) else []:
            header = self._header(sig)
            jku = header.get("jku") if header else None
            if isinstance(jku, str) and self._trusted_jku(jku):
                cache = self._jku_cache(jku)
                kid = header.get("kid") if header else None
                if isinstance(kid, str):
                    await cache.key(kid)

    @staticmethod
    def _header(sig: Any) -> dict[str, Any] | None:
        if not isinstance(sig, dict) or not isinstance(sig.get("protected"), str):
            return None
        try:
            header = json_b64decode(sig["protected"].encode("ascii"))
        except (ValueError, TypeError, UnicodeError):
            return None
        return header if isinstance(header, dict) else None

    def _trusted_jku(self, jku: str) -> bool:
        return jku.startswith("https://") and any(jku.startswith(p) for p in self._prefixes)

    def _jku_cache(self, jku: str) -> JwksCache:
        cache = self._jkus.get(jku)
        if cache is None:
            cache = self._jkus[jku] = JwksCache(jku, ca_file=self._ca_file)
        return cache

    def _key_for(self, header: dict[str, Any]) -> tuple[Key | None, str]:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            return None, "protected header has no kid"
        if kid in self._keys:
            return self._keys[kid], kid
        jku = header.get("jku")
        if not isinstance(jku, str):
            return None, f"key {kid[:64]!r} is not trusted"
        if not self._trusted_jku(jku):
            return None, f"jku {jku[:200]!r} is not under a trusted prefix"
        cache = self._jku_cache(jku)
        key = cache.cached(kid)
        if key is None:
            self._fetch_later(cache, kid)
            return None, f"key {kid[:64]!r} not (yet) fetched from its jku"
        return key, kid

    def _fetch_later(self, cache: JwksCache, kid: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        async def fetch() -> None:
            try:
                await cache.key(kid)
            except Exception as exc:  # logged; the card stays unverified
                log.warning("jku %s not fetched: %s", cache.url, exc)
        task = loop.create_task(fetch(), name=f"a2a-mqtt.card-jku[{cache.url}]")
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    def _verify_one(self, sig: Any, payload: str) -> tuple[bool, str]:
        header = self._header(sig)
        if header is None or not isinstance(sig.get("signature"), str):
            return False, "malformed signature entry"
        if header.get("alg") != SIGNING_ALG:
            return False, f"algorithm {str(header.get('alg'))[:20]!r} not accepted"
        key, why = self._key_for(header)
        if key is None:
            return False, why
        flat: FlattenedJSONSerialization = {
            "payload": payload, "protected": sig["protected"], "signature": sig["signature"]}
        try:
            jws.deserialize_json(flat, key, algorithms=[SIGNING_ALG])
        except (JoseError, ValueError):
            return False, f"signature does not verify with key {why[:64]!r} (card altered?)"
        return True, why
