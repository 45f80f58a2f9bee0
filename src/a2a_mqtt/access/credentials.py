"""Issued credentials, and the named profiles that keep them off command lines.

:class:`Credentials` is what an identity needs to connect: broker URL, username
(= Client ID), password, CA and optional client certificate, and the registry
to read agents from (its HTTP URL). Its ``repr`` hides the password. A profile
file (``~/.config/a2a-mqtt/profiles.toml`` by default) holds one
``[profiles.NAME]`` table per connection; it is written with mode 0600.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final

from a2a_mqtt.access.ca import write_private
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mqtt_types import TLSConfig

__all__ = ["DEFAULT_PROFILES", "Credentials", "load_profile", "profile_names",
           "profile_path_from_env", "save_profile"]

DEFAULT_PROFILES: Final = Path("~/.config/a2a-mqtt/profiles.toml")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """How one identity connects; every field may be absent in a partial profile."""

    broker: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    #: The registry's HTTP base URL: ``agents list|show|watch`` read it instead of the broker.
    registry: str | None = None

    def tls(self) -> TLSConfig | None:
        """The transport's TLS options, or None when no file is configured (a
        ``mqtts://`` URL then verifies against the system's trust store)."""
        if self.ca_file is None and self.cert_file is None:
            return None
        return TLSConfig(ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file)

    def merged(self, override: Credentials) -> Credentials:
        """``override``'s set fields win over ours."""
        values = {f.name: getattr(override, f.name) if getattr(override, f.name) is not None
                  else getattr(self, f.name) for f in fields(self)}
        return Credentials(**values)

    def as_table(self) -> dict[str, str]:
        """The set fields, as a profile table."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = tomllib.loads(path.expanduser().read_text())
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile file {path} is not valid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"profile file {path}: [profiles] must be a table")
    return {k: v for k, v in profiles.items() if isinstance(v, dict)}


def profile_names(path: Path = DEFAULT_PROFILES) -> list[str]:
    """The profiles defined in ``path`` (none if it does not exist)."""
    return sorted(_read(path))


def load_profile(name: str, path: Path = DEFAULT_PROFILES) -> Credentials:
    """The profile ``name``; raise :class:`ConfigError` if it is missing or malformed."""
    table = _read(path).get(name)
    if table is None:
        raise ConfigError(f"no profile {name!r} in {path}")
    known = {f.name for f in fields(Credentials)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"profile {name!r} in {path}: unknown keys {sorted(unknown)}")
    if not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f"profile {name!r} in {path}: every value must be a string")
    return Credentials(**{k: str(v) for k, v in table.items()})


def save_profile(name: str, credentials: Credentials, path: Path = DEFAULT_PROFILES) -> Path:
    """Add or replace profile ``name`` in ``path`` (created 0600; other profiles kept)."""
    path = path.expanduser()
    profiles = _read(path)
    profiles[name] = dict(credentials.as_table())
    lines = ["# a2a-mqtt connection profiles (secrets: keep this file 0600)."]
    for key in sorted(profiles):
        lines += ["", f"[profiles.{_toml_string(key)}]"]
        lines += [f"{k} = {_toml_string(str(v))}" for k, v in profiles[key].items()]
    write_private(path, ("\n".join(lines) + "\n").encode())
    return path


def _toml_string(value: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def profile_path_from_env() -> Path:
    """``A2A_MQTT_PROFILES`` or the default location."""
    return Path(os.environ.get("A2A_MQTT_PROFILES", str(DEFAULT_PROFILES))).expanduser()
