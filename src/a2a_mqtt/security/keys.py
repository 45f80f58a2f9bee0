"""Key files: JSON Web Key Sets on disk, signing and encryption keys with stable ``kid``s.

Every key here is a ``joserfc`` key; private sets are written 0600. A ``kid``
is the key's RFC 7638 thumbprint unless one is given, so two parties that
see the same public key agree on its id without coordination.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from joserfc.jwk import ECKey, KeySet, OKPKey

from a2a_mqtt.errors import ConfigError

__all__ = [
    "ENCRYPTION_ALG",
    "ENCRYPTION_CURVES",
    "SIGNING_ALG",
    "EncryptionKey",
    "load_key_set",
    "new_encryption_key",
    "new_signing_key",
    "public_jwks",
    "save_key_set",
]

SIGNING_ALG: Final = "ES256"
"""JWS algorithm for tokens and card signatures (ECDSA P-256, SHA-256)."""
ENCRYPTION_ALG: Final = "ECDH-ES+A256KW"
"""JWE key management for ubsp-v1 (ECDH on X25519 or P-256, AES-256 key wrap)."""
ENCRYPTION_CURVES: Final = ("X25519", "P-256")
"""Curves a ubsp-v1 key may use; new keys are X25519 (about 1.6x faster per message)."""

EncryptionKey = ECKey | OKPKey


def _with_kid(key: ECKey, kid: str | None, alg: str, use: str) -> ECKey:
    data = key.as_dict(private=True)
    data.update({"kid": kid or key.thumbprint(), "alg": alg, "use": use})
    return ECKey.import_key(data)


def new_signing_key(kid: str | None = None) -> ECKey:
    """A fresh P-256 key for ES256, its ``kid`` the thumbprint unless given."""
    return _with_kid(ECKey.generate_key("P-256", private=True), kid, SIGNING_ALG, "sig")


def new_encryption_key(kid: str | None = None, *, curve: str = "X25519") -> EncryptionKey:
    """A fresh key for ECDH-ES+A256KW (ubsp-v1): X25519 by default, or P-256."""
    if curve == "P-256":
        return _with_kid(ECKey.generate_key("P-256", private=True), kid, ENCRYPTION_ALG, "enc")
    if curve != "X25519":
        raise ConfigError(f"ubsp-v1 keys use one of {ENCRYPTION_CURVES}, not {curve!r}")
    key = OKPKey.generate_key("X25519", private=True)
    data = key.as_dict(private=True)
    data.update({"kid": kid or key.thumbprint(), "alg": ENCRYPTION_ALG, "use": "enc"})
    return OKPKey.import_key(data)


def public_jwks(keys: KeySet | list[ECKey]) -> dict[str, Any]:
    """The public JWKS (``{"keys": [...]}``) of ``keys``: never a private member."""
    members = keys.keys if isinstance(keys, KeySet) else keys
    return {"keys": [k.as_dict(private=False) for k in members]}


def save_key_set(path: Path, keys: list[ECKey], *, private: bool = True) -> None:
    """Write ``keys`` as a JWKS; a private set is created with mode 0600."""
    data = {"keys": [k.as_dict(private=private) for k in keys]}
    text = json.dumps(data, indent=2, sort_keys=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    tmp.replace(path)


def load_key_set(path: Path) -> list[ECKey]:
    """The EC keys of the JWKS file at ``path``; ConfigError if unreadable or not EC."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = [ECKey.import_key(m) for m in data["keys"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read key set {path}: {type(exc).__name__}") from None
    if not keys:
        raise ConfigError(f"key set {path} is empty")
    return keys
