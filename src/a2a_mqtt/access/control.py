"""Managing identities on a running Mosquitto through its dynamic-security plugin.

:class:`DynsecControl` speaks the plugin's JSON protocol on
``$CONTROL/dynamic-security/v1`` (responses on ``.../response``) over an admin
identity's own connection. Each call sends one batch of commands with a fresh
correlation id and awaits the matching response; a command the plugin refuses
raises :class:`ControlError` with the plugin's reason. Passwords go to the broker
inside the (TLS) connection and never into a log or an exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any, Final, Self

from a2a_mqtt.access.export import dynsec_role, role_name
from a2a_mqtt.access.identity import Identity
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.mqtt_types import ConnectOptions, IncomingMessage, Subscription
from a2a_mqtt.transport.base import MqttTransport, TransportFactory, default_transport

__all__ = ["ControlError", "DynsecControl"]

log = logging.getLogger("a2a_mqtt.access")

_TOPIC: Final = "$CONTROL/dynamic-security/v1"
_RESPONSE: Final = f"{_TOPIC}/response"
_TIMEOUT: Final = 10.0


class ControlError(A2AMqttError):
    """The dynamic-security plugin refused a command, or did not answer."""


class DynsecControl:
    """An admin session on the dynamic-security plugin; an async context manager."""

    def __init__(self, options: ConnectOptions, *,
                 transport_factory: TransportFactory = default_transport) -> None:
        self._transport: MqttTransport = transport_factory(options)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> Self:
        await self._transport.subscribe(Subscription(_RESPONSE, qos=1), self._on_response)
        await self._transport.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.disconnect()

    def _on_response(self, msg: IncomingMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable dynamic-security response ignored")
            return
        for response in responses if isinstance(responses, list) else ():
            corr = response.get("correlationData") if isinstance(response, dict) else None
            future = self._pending.get(corr) if isinstance(corr, str) else None
            if future is not None and not future.done():
                future.set_result(response)

    async def run(self, commands: Sequence[dict[str, Any]], *,
                  tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Send ``commands`` in one batch; return each response's ``data`` (or ``{}``).

        An error whose text contains one of ``tolerate`` is accepted (e.g. "not
        found" when removing); any other error raises :class:`ControlError`.
        """
        loop = asyncio.get_running_loop()
        batch = []
        futures = []
        for command in commands:
            corr = uuid.uuid4().hex
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._pending[corr] = future
            futures.append(future)
            batch.append({**command, "correlationData": corr})
        try:
            await self._transport.publish(_TOPIC, json.dumps({"commands": batch}).encode(),
                                          qos=1)
            async with asyncio.timeout(_TIMEOUT):
                responses = [await f for f in futures]
        except TimeoutError:
            raise ControlError("the dynamic-security plugin did not answer within "
                               f"{_TIMEOUT:.0f} s (is this an admin identity?)") from None
        finally:
            for command in batch:
                self._pending.pop(command["correlationData"], None)
        out = []
        for command, response in zip(commands, responses, strict=True):
            error = response.get("error")
            if error and not any(t in str(error) for t in tolerate):
                raise ControlError(f"{command['command']}: {error}")
            data = response.get("data")
            out.append(data if isinstance(data, dict) else {})
        return out

    async def add(self, identity: Identity, password: str) -> None:
        """Create ``identity``'s role and clients (its own and its workers'; each Client ID
        bound to its username)."""
        role = dynsec_role(identity)
        await self.run([
            {"command": "createRole", "rolename": role["rolename"],
             "textdescription": role["textdescription"]},
            *({"command": "addRoleACL", "rolename": role["rolename"], **acl}
              for acl in role["acls"]),
            *({"command": "createClient", "username": login, "clientid": login,
               "password": password, "textdescription": role["textdescription"],
               "roles": [{"rolename": role["rolename"]}]} for login in identity.logins),
        ])

    async def remove(self, username: str) -> None:
        """Delete the client ``username`` (disconnecting it), its workers' clients
        (``username.wK``) and its roles."""
        client = await self.get(username)
        roles = [r.get("rolename") for r in client.get("roles", []) if isinstance(r, dict)]
        workers = re.compile(re.escape(username) + r"\.w[0-9]+")
        logins = [username, *(c["username"] for c in await self.list()
                              if isinstance(c.get("username"), str)
                              and workers.fullmatch(c["username"]))]
        await self.run([*({"command": "deleteClient", "username": u} for u in logins),
                        *({"command": "deleteRole", "rolename": r}
                          for r in roles if isinstance(r, str) and r.startswith("a2a:"))])

    async def get(self, username: str) -> dict[str, Any]:
        """The plugin's view of one client (no password hash: the plugin omits it)."""
        data = (await self.run([{"command": "getClient", "username": username}]))[0]
        client = data.get("client")
        return client if isinstance(client, dict) else {}

    async def list(self) -> list[dict[str, Any]]:
        """Every client, verbose: username, Client ID, roles, description."""
        data = (await self.run([{"command": "listClients", "verbose": True}]))[0]
        clients = data.get("clients")
        return [c for c in clients if isinstance(c, dict)] if isinstance(clients, list) else []

    @staticmethod
    def role_for(identity: Identity) -> str:
        """The role name :meth:`add` creates for ``identity``."""
        return role_name(identity)
