"""Passwords: generation and the PBKDF2-SHA512 hashes Mosquitto stores.

Mosquitto 2.0's dynamic-security plugin and ``mosquitto_passwd`` both store
``base64(PBKDF2-HMAC-SHA512(password, salt, iterations))`` with a 12-byte salt;
the password file writes it as ``user:$7$iterations$salt$hash``. Only hashes ever
reach a file the broker reads; the clear password is shown once, to whoever
issued it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

__all__ = ["ITERATIONS", "PasswordHash", "hash_password", "new_password"]

#: Mosquitto 2.0's default for both the plugin and ``mosquitto_passwd``.
ITERATIONS: Final = 101
_SALT_BYTES: Final = 12


def new_password() -> str:
    """A fresh random password (192 bits, URL-safe text)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """The stored form of a password; ``repr`` is safe to log (it holds no secret)."""

    hash: str
    salt: str
    iterations: int = ITERATIONS

    def password_file_entry(self, username: str) -> str:
        """One ``mosquitto_passwd`` line."""
        return f"{username}:$7${self.iterations}${self.salt}${self.hash}"


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = ITERATIONS) -> PasswordHash:
    """Hash ``password`` the way Mosquitto verifies it (a random salt unless given)."""
    raw_salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), raw_salt, iterations)
    return PasswordHash(hash=base64.b64encode(digest).decode(),
                        salt=base64.b64encode(raw_salt).decode(), iterations=iterations)
