"""The secure broker: Mosquitto with TLS only, no anonymous access, managed identities.

:class:`SecureBroker` (an async context manager, used by ``a2a-mqtt broker --secure``,
test fixtures, the demo and benchmarks) prepares a state directory and runs
:class:`EmbeddedBroker` on it:

* ``ca/``: a local CA (:class:`LocalCA`) and the server certificate, unless the
  user supplies certificate, key and CA;
* ``dynamic-security.json``: the plugin's state, seeded with an admin identity
  and the initial identities (hashes only), deny-by-default;
* ``profiles.toml`` (0600): the admin profile, so ``a2a-mqtt identity`` can log in.

The only listener speaks TLS; every client logs in and may use only its own
Client ID (the plugin's ``clientid`` binding). Identities are added and removed
while it runs through ``$CONTROL/dynamic-security/v1`` (:meth:`add_identity`).
A restart on the same state directory keeps CA, identities and admin password.

``auth="files"`` is the fallback for brokers without the plugin: a
``password_file`` and the policy as an ``acl_file`` (access/export.py), with
``use_username_as_clientid true`` (a client gets its username as Client ID
whatever it asks for); changes rewrite both files and reload Mosquitto (SIGHUP).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

from a2a_mqtt.access.ca import LocalCA, write_private
from a2a_mqtt.access.control import DynsecControl
from a2a_mqtt.access.credentials import Credentials, load_profile, save_profile
from a2a_mqtt.access.export import dynsec_document
from a2a_mqtt.access.identity import Identity
from a2a_mqtt.access.secrets import hash_password, new_password
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker.config import BrokerConfig
from a2a_mqtt.broker.fileauth import FileAuth
from a2a_mqtt.broker.plugin import find_dynsec_plugin
from a2a_mqtt.broker.process import EmbeddedBroker
from a2a_mqtt.errors import BrokerError, ConfigError, ConnectError
from a2a_mqtt.mqtt_types import BrokerURL, ConnectOptions
from a2a_mqtt.transport.base import default_transport

__all__ = ["ADMIN", "SecureBroker", "SecureBrokerConfig"]

#: The identity the launcher creates to manage the others.
ADMIN: Final = Identity(AgentRef("a2a-mqtt", "admin", "admin"), "admin")
_ADMIN_PROFILE: Final = "admin"
_RELOAD_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SecureBrokerConfig:
    """What the secure launcher needs; the rest is generated into ``state_dir``."""

    host: str = "127.0.0.1"
    #: The TLS listener; 0 picks a free port.
    port: int = 0
    #: Kept across restarts; ``None``: a temporary directory removed on exit.
    state_dir: Path | None = None
    #: Extra host names/addresses for the generated server certificate.
    hostnames: tuple[str, ...] = ()
    #: Supply all three to use your own PKI instead of the local CA.
    certfile: Path | None = None
    keyfile: Path | None = None
    cafile: Path | None = None
    #: Require a client certificate signed by the CA, on top of the password.
    mtls: bool = False
    #: Identities created with the broker (their passwords: :meth:`SecureBroker.credentials`).
    identities: tuple[Identity, ...] = ()
    persistence: bool = True
    dynsec_plugin: Path | None = None
    #: ``dynsec`` (the plugin, managed at runtime) or ``files`` (password and ACL
    #: files, reloaded on change; for brokers without the plugin).
    auth: Literal["dynsec", "files"] = "dynsec"

    def __post_init__(self) -> None:
        if self.auth not in ("dynsec", "files"):
            raise ConfigError(f"auth must be 'dynsec' or 'files', got {self.auth!r}")
        supplied = [self.certfile, self.keyfile, self.cafile]
        if any(supplied) and not all(supplied):
            raise ConfigError("supply certfile, keyfile and cafile together (or none)")
        if len({i.username for i in self.identities}) != len(self.identities):
            raise ConfigError("identities must have distinct references")
        if any(i.ref == ADMIN.ref for i in self.identities):
            raise ConfigError(f"{ADMIN.ref} is reserved for the launcher's admin")


class SecureBroker:
    """A running secure Mosquitto; ``async with SecureBroker(config) as b: b.url``."""

    def __init__(self, config: SecureBrokerConfig | None = None) -> None:
        self.config = config or SecureBrokerConfig()
        self._broker: EmbeddedBroker | None = None
        self._tmp: Path | None = None
        self._passwords: dict[str, str] = {}
        self._admin: Credentials | None = None
        self._ca: LocalCA | None = None
        self._files = FileAuth(state_dir=Path())
        self.state_dir = Path()

    # -- where things are ---------------------------------------------------------

    @property
    def url(self) -> str:
        """``mqtts://host:port`` of the TLS listener."""
        return self._require().url

    @property
    def port(self) -> int:
        return self._require().port

    @property
    def embedded(self) -> EmbeddedBroker:
        """The underlying process wrapper (``.process.restart()`` etc.)."""
        return self._require()

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients must trust."""
        return self.config.cafile or self.state_dir / "ca" / "ca.crt"

    @property
    def profiles_file(self) -> Path:
        """The 0600 profile file holding the admin's (and seeded identities') logins."""
        return self.state_dir / "profiles.toml"

    @property
    def admin(self) -> Credentials:
        """The admin identity's credentials (for :class:`DynsecControl`)."""
        if self._admin is None:
            raise BrokerError("no admin: the broker is not started, or runs on files")
        return self._admin

    def credentials(self, identity: Identity) -> Credentials:
        """The credentials issued for ``identity`` by this launcher (seeded or added)."""
        password = self._passwords.get(identity.username)
        if password is None:
            raise ConfigError(f"no password issued here for {identity.ref}")
        cert = key = None
        if self.config.mtls:
            pair = self._require_ca().issue_client(directory=self.state_dir / "clients",
                                                   identity=identity.username)
            cert, key = str(pair.cert_file), str(pair.key_file)
        return Credentials(broker=self.url, username=identity.username, password=password,
                           client_id=identity.client_id, ca_file=str(self.ca_file),
                           cert_file=cert, key_file=key)

    def connect_options(self, credentials: Credentials, *, client_id: str | None = None,
                        **extra: object) -> ConnectOptions:
        """Transport options for ``credentials`` (tests use ``client_id`` to lie)."""
        url = BrokerURL.parse(credentials.broker or self.url)
        return ConnectOptions(url=url, client_id=client_id or credentials.client_id or "",
                              username=credentials.username, password=credentials.password,
                              tls=credentials.tls(), **extra)  # type: ignore[arg-type]

    # -- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        cfg = self.config
        if cfg.state_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="a2a-mqtt-secure-"))
        # Absolute: the paths written into profiles must work from any directory.
        self.state_dir = (cfg.state_dir or self._tmp or Path()).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._files = FileAuth(state_dir=self.state_dir)
        certfile, keyfile = self._server_cert()
        broker_config = BrokerConfig(
            host=cfg.host, port=cfg.port, state_dir=self.state_dir,
            persistence=cfg.persistence, listener_tls=True, tls_certfile=certfile,
            tls_keyfile=keyfile, tls_cafile=self.ca_file, tls_require_certificate=cfg.mtls,
            allow_anonymous=False)
        if cfg.auth == "dynsec":
            dynsec_file = self.state_dir / "dynamic-security.json"
            self._seed(dynsec_file)
            broker_config = dataclasses.replace(
                broker_config, dynsec_plugin=find_dynsec_plugin(cfg.dynsec_plugin),
                dynsec_file=dynsec_file)
        else:
            self._passwords.update(self._files.load_or_seed(cfg.identities))
            broker_config = dataclasses.replace(
                broker_config, password_file=self._files.password_file,
                acl_file=self._files.acl_file, use_username_as_clientid=True)
        self._broker = EmbeddedBroker(config=broker_config)
        try:
            await self._broker.start()
        except BaseException:
            await self.stop()
            raise
        if cfg.auth == "dynsec":
            # The port may be new on every start: the admin profile follows it. With
            # mTLS it also carries the admin's client certificate.
            self._admin = dataclasses.replace(self._admin_login(), broker=self.url)
            if cfg.mtls:
                self._admin = self.credentials(ADMIN)
            save_profile(_ADMIN_PROFILE, self._admin, self.profiles_file)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- identities at runtime ----------------------------------------------------

    def control(self) -> DynsecControl:
        """An admin session on the plugin (``async with broker.control() as c``)."""
        return DynsecControl(self.connect_options(self.admin))

    async def add_identity(self, identity: Identity) -> Credentials:
        """Create ``identity`` on the running broker; return its new credentials."""
        password = new_password()
        if self.config.auth == "files":
            self._files.put(identity, hash_password(password))
            self._passwords[identity.username] = password
            await self._reload(until_accepted=self.credentials(identity))
            return self.credentials(identity)
        async with self.control() as control:
            await control.add(identity, password)
        self._passwords[identity.username] = password
        return self.credentials(identity)

    async def remove_identity(self, identity: Identity) -> None:
        """Delete ``identity`` (with the plugin, the broker disconnects it at once)."""
        if self.config.auth == "files":
            self._files.drop(identity)
            removed = self.credentials(identity)
            self._passwords.pop(identity.username, None)
            await self._reload(until_refused=removed)
            return
        async with self.control() as control:
            await control.remove(identity.username)
        self._passwords.pop(identity.username, None)

    # -- preparation --------------------------------------------------------------

    def _require(self) -> EmbeddedBroker:
        if self._broker is None:
            raise BrokerError("the secure broker is not started")
        return self._broker

    def _require_ca(self) -> LocalCA:
        if self._ca is None:
            raise ConfigError("client certificates need the local CA (not a supplied PKI)")
        return self._ca

    def _server_cert(self) -> tuple[Path, Path]:
        cfg = self.config
        if cfg.certfile is not None and cfg.keyfile is not None:
            return cfg.certfile, cfg.keyfile
        self._ca = LocalCA(directory=self.state_dir / "ca")
        hosts = tuple(dict.fromkeys((cfg.host, "localhost", "127.0.0.1", *cfg.hostnames)))
        pair = self._ca.issue_server(directory=self.state_dir / "ca", hosts=hosts)
        return pair.cert_file, pair.key_file

    def _seed(self, dynsec_file: Path) -> None:
        """First start: write the plugin's state. Later starts: the plugin owns it."""
        if dynsec_file.exists():
            self._admin_login()
            if self.config.identities:
                raise ConfigError("identities are seeded on the first start only; add them "
                                  "with `a2a-mqtt identity add` to a running broker")
            return
        admin_password = new_password()
        self._passwords[ADMIN.username] = admin_password
        hashes = {ADMIN: hash_password(admin_password)}
        for identity in self.config.identities:
            password = new_password()
            self._passwords[identity.username] = password
            hashes[identity] = hash_password(password)
        write_private(dynsec_file, json.dumps(dynsec_document(hashes), indent=1).encode())
        save_profile(_ADMIN_PROFILE, Credentials(
            username=ADMIN.username, password=admin_password, client_id=ADMIN.client_id,
            ca_file=str(self.ca_file)), self.profiles_file)

    async def _reload(self, *, until_accepted: Credentials | None = None,
                      until_refused: Credentials | None = None) -> None:
        """Rewrite the files, SIGHUP Mosquitto, and wait until a login shows the change."""
        self._files.write()
        process = self._require().process
        # Mosquitto installs its SIGHUP handler only after opening its listeners; a
        # SIGHUP before its "running" line kills it. The log is the only signal.
        deadline = time.monotonic() + _RELOAD_TIMEOUT
        while not _main_loop_running(process.log_text()):
            if time.monotonic() > deadline or process.pid is None:
                raise BrokerError("Mosquitto is not running; cannot reload its files")
            await asyncio.sleep(0.01)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGHUP)
        probe = until_accepted or until_refused
        assert probe is not None
        deadline = time.monotonic() + _RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            transport = default_transport(self.connect_options(probe, connect_timeout=2.0))
            try:
                await transport.connect()
            except ConnectError:
                if until_refused is not None:
                    return
            else:
                await transport.disconnect()
                if until_accepted is not None:
                    return
            await asyncio.sleep(0.05)
        raise BrokerError(f"Mosquitto did not apply the new password/ACL files within "
                          f"{_RELOAD_TIMEOUT:.0f} s")

    def _admin_login(self) -> Credentials:
        admin = load_profile(_ADMIN_PROFILE, self.profiles_file)
        if admin.password is not None:
            self._passwords[ADMIN.username] = admin.password
        self._admin = admin
        return admin


def _main_loop_running(log: str) -> bool:
    """Whether the last start logged in ``log`` reached Mosquitto's main loop."""
    for line in reversed(log.splitlines()):
        if "mosquitto version" in line:
            return line.rstrip().endswith(" running")
    return False
