"""Sign-in for people: a password (scrypt hash in the config) or a token (pure).

A successful sign-in yields a random session id, kept server-side with its
expiry and sent to the browser as an ``HttpOnly; SameSite=Strict`` cookie:
the browser never holds broker credentials, and a cross-site form cannot
ride the session. Nothing here logs or returns a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from typing import Final, NamedTuple

from a2a_mqtt.errors import ConfigError

__all__ = ["SessionStore", "check_secret", "hash_password", "parse_password_hash"]

_SCRYPT: Final = "scrypt"
_MAX_SESSIONS: Final = 10_000
_MAX_SECRET: Final = 4096
_N_LIMIT: Final = 2**20


class ScryptHash(NamedTuple):
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = 2**14, r: int = 8, p: int = 1,
                  salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$SALT$HASH`` for the dashboard's ``password_hash``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"{_SCRYPT}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def parse_password_hash(text: str) -> ScryptHash:
    """The parts of a password hash; ConfigError (never echoing it) when malformed."""
    parts = text.split("$")
    bad = ConfigError("password_hash must be scrypt$N$r$p$SALT$HASH "
                      "(a2a-mqtt dashboard hash-password)")
    if len(parts) != 6 or parts[0] != _SCRYPT:
        raise bad
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        raise bad from None
    if not (1 < n <= _N_LIMIT and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16
            and len(salt) >= 8 and len(digest) == 32):
        raise ConfigError("password_hash parameters are out of range")
    return ScryptHash(n, r, p, salt, digest)


def check_secret(given: str, *, password_hash: str | None, access_token: str | None) -> bool:
    """True when ``given`` is the access token or matches the password hash."""
    if not given or len(given) > _MAX_SECRET:
        return False
    ok = False
    if access_token is not None:
        ok = hmac.compare_digest(given.encode(), access_token.encode())
    if not ok and password_hash is not None:
        h = parse_password_hash(password_hash)
        digest = hashlib.scrypt(given.encode(), salt=h.salt, n=h.n, r=h.r, p=h.p,
                                dklen=len(h.digest), maxmem=256 * h.n * h.r + 2**20)
        ok = hmac.compare_digest(digest, h.digest)
    return ok


class SessionStore:
    """Signed-in sessions: random ids with an expiry, bounded (oldest dropped first)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._sessions: OrderedDict[str, float] = OrderedDict()

    def open(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = now + self.ttl
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return sid

    def valid(self, sid: str | None, now: float | None = None) -> bool:
        if not sid or len(sid) > 128:
            return False
        now = time.monotonic() if now is None else now
        expiry = self._sessions.get(sid)
        if expiry is None:
            return False
        if expiry <= now:
            del self._sessions[sid]
            return False
        return True

    def close(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)
