"""The secure broker's fallback state: a ``password_file`` and an ``acl_file``.

For a Mosquitto without the dynamic-security plugin. :class:`FileAuth` keeps the
identities (with password *hashes* only) in ``identities.json`` so a restart
finds them, and renders both files Mosquitto reads: the password file, and the
policy as an ACL file (access/export.py). Every file is written 0600.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from a2a_mqtt.access.ca import write_private
from a2a_mqtt.access.export import mosquitto_acl_file
from a2a_mqtt.access.identity import Identity
from a2a_mqtt.access.secrets import PasswordHash, hash_password, new_password
from a2a_mqtt.errors import ConfigError

__all__ = ["FileAuth"]


class FileAuth:
    """Identities and their hashes, rendered into Mosquitto's two files."""

    def __init__(self, *, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._hashes: dict[Identity, PasswordHash] = {}

    @property
    def password_file(self) -> Path:
        return self.state_dir / "passwords"

    @property
    def acl_file(self) -> Path:
        return self.state_dir / "acl"

    @property
    def _identities_file(self) -> Path:
        return self.state_dir / "identities.json"

    def load_or_seed(self, identities: tuple[Identity, ...]) -> dict[str, str]:
        """Load the saved identities, or create ``identities`` on a first start; write
        the files. Returns the new passwords by username (only for seeded ones)."""
        passwords: dict[str, str] = {}
        if self._identities_file.exists():
            if identities:
                raise ConfigError("identities are seeded on the first start only")
            for entry in json.loads(self._identities_file.read_text()):
                who = Identity.parse(entry["ref"], entry["role"], pools=tuple(entry["pools"]),
                                     grants=tuple(entry["grants"]),
                                     workers=entry.get("workers", 0))
                self._hashes[who] = PasswordHash(**entry["password"])
        for identity in identities:
            password = new_password()
            passwords[identity.username] = password
            self._hashes[identity] = hash_password(password)
        self.write()
        return passwords

    def put(self, identity: Identity, password: PasswordHash) -> None:
        """Add or replace ``identity`` (call :meth:`write`, then reload the broker)."""
        self._hashes = {i: h for i, h in self._hashes.items() if i.ref != identity.ref}
        self._hashes[identity] = password

    def drop(self, identity: Identity) -> None:
        """Forget ``identity`` (call :meth:`write`, then reload the broker)."""
        self._hashes = {i: h for i, h in self._hashes.items() if i.ref != identity.ref}

    def write(self) -> None:
        ordered = sorted(self._hashes, key=lambda i: (i.ref, i.role))
        write_private(self.password_file, "".join(
            self._hashes[i].password_file_entry(login) + "\n"
            for i in ordered for login in i.logins).encode())
        write_private(self.acl_file, mosquitto_acl_file(ordered).encode())
        write_private(self._identities_file, json.dumps([
            {"ref": str(i.ref), "role": i.role, "pools": list(i.pools),
             "grants": [str(g) for g in i.grants], "workers": i.workers,
             "password": dataclasses.asdict(self._hashes[i])} for i in ordered],
            indent=1).encode())
