"""ubsp-v1 end-to-end encryption (docs/binding.md §8.4): JWE payloads between two identities.

**Algorithms.** JWE compact serialization, ``alg`` ECDH-ES+A256KW on X25519
(default) or P-256 (the recipient's key decides),
``enc`` A256GCM, the recipient's ``kid`` in the protected header. The
plaintext is a JSON object of claims:
``{"iss": sender id, "aud": recipient id, "jti", "iat", "exp", "body"}``
where ``body`` is the JSON-RPC text that would otherwise be the payload.

**Keys.** Each side publishes its public key in its card, in the extension
:data:`E2E_EXTENSION_URI` (``params.keys`` a JWKS member list). The card sits
on the identity's own discovery topic, which the broker's ACLs reserve to
that identity (and which card signatures can vouch for).

**Checks on receipt** (each a :class:`E2EError`): it decrypts with our key;
``aud`` is our identity and the ``kid`` ours (else recipient mismatch);
``iss`` matches the identity the message claims; ``exp`` has not passed
(``ttl`` is short) and ``jti`` was not seen before (replay).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, Final

from a2a.types.a2a_pb2 import AgentCard, AgentExtension
from google.protobuf.json_format import MessageToDict
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey
from joserfc.util import json_b64decode

from a2a_mqtt.binding.card import parse_card
from a2a_mqtt.binding.topics import parse_discovery_topic
from a2a_mqtt.errors import InvalidCardError
from a2a_mqtt.mqtt_types import IncomingMessage
from a2a_mqtt.security.keys import ENCRYPTION_ALG, ENCRYPTION_CURVES, EncryptionKey

__all__ = [
    "CONTENT_TYPE_JOSE",
    "E2E_EXTENSION_URI",
    "PROFILE",
    "E2EContext",
    "E2EError",
    "Opened",
]

log = logging.getLogger("a2a_mqtt.security")

PROFILE: Final = "ubsp-v1"
E2E_EXTENSION_URI: Final = "urn:a2a:binding:mqtt5:v1:ubsp-v1"
CONTENT_TYPE_JOSE: Final = "application/jose"
ENCRYPTION_ENC: Final = "A256GCM"
SECURITY_PROFILE: Final = "a2a-security-profile"
REQUESTER_AGENT_ID: Final = "a2a-requester-agent-id"
RECIPIENT_AGENT_ID: Final = "a2a-recipient-agent-id"
RECIPIENT_KID: Final = "a2a-recipient-kid"
_MAX_JTIS: Final = 100_000
_LEEWAY: Final = 5
_MAX_PAYLOAD: Final = 4 * 1024 * 1024


class E2EError(Exception):
    """A ubsp-v1 message refused; ``reason`` names no secret. ``replay`` ones get no answer."""

    def __init__(self, reason: str, *, replay: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.replay = replay


class Opened:
    """A decrypted message: the JSON-RPC ``body`` and who sent it."""

    __slots__ = ("body", "sender")

    def __init__(self, body: bytes, sender: str) -> None:
        self.body = body
        self.sender = sender


class E2EContext:
    """One identity's ubsp-v1 keys, its directory of peers' keys, and its replay cache."""

    def __init__(self, *, identity: str, key: EncryptionKey, required: bool = True,
                 ttl: int = 60) -> None:
        if key.kid is None or not key.is_private:
            raise ValueError("the ubsp-v1 key must be a private key with a kid")
        self.identity = identity
        """``org/unit/agent`` of this side, as it appears in the peers' ``aud``."""
        self.required = required
        """Refuse plaintext requests (an agent); a requester always encrypts."""
        self.ttl = ttl
        self._key = key
        self._peers: dict[str, EncryptionKey] = {}
        self._learned = asyncio.Event()
        self._jtis: OrderedDict[str, int] = OrderedDict()

    @property
    def kid(self) -> str:
        return self._key.kid or ""

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._key.as_dict(private=False))

    # -- key metadata in cards -------------------------------------------------------------

    def declare(self, card: AgentCard) -> AgentCard:
        """A copy of ``card`` publishing our public key (replacing an earlier declaration)."""
        out = AgentCard()
        out.CopyFrom(card)
        kept = [e for e in out.capabilities.extensions if e.uri != E2E_EXTENSION_URI]
        del out.capabilities.extensions[:]
        out.capabilities.extensions.extend(kept)
        ext = AgentExtension(uri=E2E_EXTENSION_URI, required=self.required,
                             description="ubsp-v1 end-to-end encryption (JWE)")
        ext.params.update({"profile": PROFILE, "alg": ENCRYPTION_ALG, "enc": ENCRYPTION_ENC,
                           "keys": [self.public_jwk()]})
        out.capabilities.extensions.append(ext)
        return out

    def trust(self, peer: str, jwk: dict[str, Any] | EncryptionKey) -> None:
        """Use ``jwk`` for ``peer`` (what :meth:`learn` does from a card); only its public
        part is kept. ValueError for a key ubsp-v1 cannot use."""
        data = jwk.as_dict(private=False) if isinstance(jwk, ECKey | OKPKey) else dict(jwk)
        data = {k: v for k, v in data.items() if k != "d"}
        if data.get("crv") not in ENCRYPTION_CURVES or not data.get("kid"):
            raise ValueError("a ubsp-v1 key is an X25519 or P-256 public key with a kid")
        try:
            key = JWKRegistry.import_key(data)
        except (JoseError, TypeError) as exc:
            raise ValueError(f"unusable ubsp-v1 key: {type(exc).__name__}") from None
        if isinstance(key, ECKey | OKPKey):
            self._peers[peer] = key
            self._learned.set()
            return
        raise ValueError("a ubsp-v1 key is an EC or OKP key")

    def learn(self, peer: str, card: AgentCard) -> bool:
        """Take ``peer``'s key from its card; False when the card declares none usable."""
        for ext in card.capabilities.extensions:
            if ext.uri != E2E_EXTENSION_URI:
                continue
            keys = MessageToDict(ext.params).get("keys")
            for member in keys if isinstance(keys, list) else []:
                if not isinstance(member, dict):
                    continue
                try:
                    self.trust(peer, member)
                except ValueError:
                    continue
                return True
        return False

    def on_card(self, msg: IncomingMessage) -> None:
        """A discovery-topic handler: learn the key of every card that declares one."""
        ref = parse_discovery_topic(msg.topic)
        if ref is None or not msg.payload:
            return
        try:
            card = parse_card(msg.payload, validate=False)
        except InvalidCardError:
            return
        self.learn(str(ref), card)

    def peer_key(self, peer: str) -> EncryptionKey | None:
        return self._peers.get(peer)

    async def wait_for_peer(self, peer: str, timeout: float) -> EncryptionKey | None:
        """``peer``'s key, waiting up to ``timeout`` for its card to arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (key := self._peers.get(peer)) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._learned.clear()
            try:
                await asyncio.wait_for(self._learned.wait(), remaining)
            except TimeoutError:
                return self._peers.get(peer)
        return key

    # -- sealing and opening ---------------------------------------------------------------

    def seal(self, recipient: str, body: bytes) -> bytes:
        """``body`` encrypted to ``recipient``; fails closed (E2EError) without its key."""
        key = self._peers.get(recipient)
        if key is None:
            raise E2EError(f"no ubsp-v1 key known for {recipient}: refusing to send plaintext")
        now = int(time.time())
        claims = {"iss": self.identity, "aud": recipient, "jti": uuid.uuid4().hex,
                  "iat": now, "exp": now + self.ttl, "body": body.decode("utf-8")}
        protected = {"alg": ENCRYPTION_ALG, "enc": ENCRYPTION_ENC, "kid": key.kid,
                     "cty": "application/json"}
        token = jwe.encrypt_compact(protected, json.dumps(claims, separators=(",", ":")),
                                    key, algorithms=[ENCRYPTION_ALG, ENCRYPTION_ENC])
        return token.encode("ascii")

    def recipient_kid(self, recipient: str) -> str:
        key = self._peers.get(recipient)
        return (key.kid or "") if key is not None else ""

    def open(self, payload: bytes, *, claimed_sender: str | None = None) -> Opened:
        """Decrypt and check a message addressed to us (see the module docstring)."""
        if len(payload) > _MAX_PAYLOAD:
            raise E2EError("ubsp-v1 payload too large")
        kid = _header_kid(payload)
        if kid is None:
            raise E2EError("payload is not a JWE (ubsp-v1 requires one)")
        if kid != self.kid:
            raise E2EError("recipient mismatch: encrypted to another key")
        try:
            decrypted = jwe.decrypt_compact(payload, self._key,
                                            algorithms=[ENCRYPTION_ALG, ENCRYPTION_ENC])
        except (JoseError, ValueError, UnicodeError) as exc:
            raise E2EError(f"JWE does not decrypt with our key ({type(exc).__name__})") from None
        try:
            claims = json.loads(decrypted.plaintext or b"")
        except ValueError:
            raise E2EError("ubsp-v1 plaintext is not JSON") from None
        if not isinstance(claims, dict) or not isinstance(claims.get("body"), str):
            raise E2EError("ubsp-v1 plaintext lacks its body")
        if claims.get("aud") != self.identity:
            raise E2EError("recipient mismatch: addressed to another agent")
        sender = claims.get("iss")
        if not isinstance(sender, str) or (claimed_sender is not None
                                           and sender != claimed_sender):
            raise E2EError("sender does not match the claimed requester")
        self._check_fresh(claims)
        return Opened(claims["body"].encode("utf-8"), sender)

    def _check_fresh(self, claims: dict[str, Any]) -> None:
        now = int(time.time())
        exp, jti = claims.get("exp"), claims.get("jti")
        if not isinstance(exp, int) or not isinstance(jti, str) or not jti:
            raise E2EError("ubsp-v1 message lacks exp or jti")
        if exp + _LEEWAY < now:
            raise E2EError("ubsp-v1 message expired")
        while self._jtis and next(iter(self._jtis.values())) + _LEEWAY < now:
            self._jtis.popitem(last=False)
        if jti in self._jtis:
            raise E2EError("ubsp-v1 message replayed", replay=True)
        self._jtis[jti] = exp
        if len(self._jtis) > _MAX_JTIS:
            self._jtis.popitem(last=False)


def _header_kid(payload: bytes) -> str | None:
    """The ``kid`` of a compact JWE's protected header (read before any key work)."""
    parts = payload.split(b".")
    if len(parts) != 5:
        return None
    try:
        header = json_b64decode(parts[0])
    except (ValueError, TypeError, UnicodeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None

