"""Gateway commands: ``gateway [serve]``, ``gateway expose``, ``gateway showcase``.

Flags and ``A2A_MQTT_*`` variables in, a Config out; the work happens in
``a2a_mqtt.gateway``. ``a2a-mqtt gateway`` alone runs ``serve``.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.common import run_async
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.cli.observability_opts import observability_options
from a2a_mqtt.cli.tracing_opts import TraceOptions, tracing_options
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.config import ObservabilityConfig

__all__ = ["gateway"]


class _DefaultToServe(click.Group):
    """A group whose default command is ``serve`` (``gateway --port 0`` = ``gateway serve ...``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


def _config_error(exc: ConfigError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(cls=_DefaultToServe)
def gateway() -> None:
    """HTTP gateway both ways: HTTP clients to MQTT agents, HTTP agents onto MQTT."""


@gateway.command()
@connection_options
@click.option("--host", envvar="A2A_MQTT_GATEWAY_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="A2A_MQTT_GATEWAY_PORT", type=int, default=8080,
              show_default=True, help="0 picks a free port (the registry defaults to 8700, "
              "the dashboard to 8800).")
@click.option("--public-url", envvar="A2A_MQTT_GATEWAY_PUBLIC_URL", default=None,
              help="Base URL to write into cards (default: from each request's Host).")
@click.option("--registry", "registry_url", envvar="A2A_MQTT_REGISTRY", default=None,
              help="Read agents from this registry (http://host:port) instead of every "
                   "retained card on the broker.")
@click.option("--org", default=None, help="Serve only this org's agents.")
@click.option("--unit", default=None, help="Serve only this unit's agents (needs --org).")
@click.option("--max-body", type=int, default=1_048_576, show_default=True,
              help="Largest request body in bytes.")
@click.option("--reply-timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for an agent's first reply.")
@click.option("--stream-timeout", type=float, default=300.0, show_default=True,
              help="Seconds allowed between two events of a stream.")
@click.option("--forward-header", "forward_headers", multiple=True,
              help="Another HTTP header to pass to agents (repeatable).")
@click.option("--allow-offline", is_flag=True,
              help="Queue requests for agents marked offline instead of answering 503.")
@click.option("--v03-compat", is_flag=True, help="Also accept A2A 0.3 requests.")
@tracing_options
@observability_options(port=False)
def serve(conn: Connection, trace: TraceOptions, host: str, port: int,
          public_url: str | None, registry_url: str | None, org: str | None,
          unit: str | None, max_body: int,
          reply_timeout: float, stream_timeout: float, forward_headers: tuple[str, ...],
          allow_offline: bool, v03_compat: bool, observability: ObservabilityConfig) -> None:
    """Serve every discovered agent over JSON-RPC and HTTP+JSON (default command)."""
    from a2a_mqtt.gateway import GatewayConfig, GatewayServer  # noqa: PLC0415

    try:
        config = GatewayConfig(
            connection=conn.settings, host=host, port=port,
            public_url=public_url, registry_url=registry_url, org=org, unit=unit,
            max_body_bytes=max_body,
            reply_timeout=reply_timeout, stream_idle_timeout=stream_timeout,
            forward_headers=forward_headers, reject_offline=not allow_offline,
            enable_v0_3_compat=v03_compat, observability=observability,
            tracing=trace.config("a2a-mqtt-gateway"))
        if conn.identity is not None:
            config = dataclasses.replace(config, requester_id=_gateway_id(conn))
    except ConfigError as exc:
        raise _config_error(exc) from exc

    server = GatewayServer(config)

    def ready() -> None:
        click.echo(server.url)
        click.echo(f"gateway on {server.url} for agents on {conn.broker} (Ctrl-C to stop)",
                   err=True)

    run_async(listening(server.serve(on_ready=ready), host, port), conn=conn)


async def listening(coro: Coroutine[Any, Any, None], host: str, port: int) -> None:
    """Run a server's coroutine, naming the address when it cannot listen."""
    try:
        await coro
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        raise


def _gateway_id(conn: Connection) -> str:
    """The gateway's requester id: its Client ID is ``a2a-mqtt/gateway/{id}``."""
    assert conn.identity is not None
    if (conn.identity.org, conn.identity.unit) != ("a2a-mqtt", "gateway"):
        raise click.BadParameter(f"the gateway connects as a2a-mqtt/gateway/NAME, not "
                                 f"{conn.identity}", param_hint="--identity")
    return conn.identity.name


def _headers(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r}: expected 'Name: value'", param_hint="--header")
        out.append((name.strip(), rest.strip()))
    return tuple(out)


@gateway.command()
@connection_options
@click.argument("url", required=False)
@click.option("--agent", "agent_ref", default=None, help="org/unit/agent to publish it as.")
@click.option("--header", "headers", multiple=True,
              help="'Name: value' sent with every HTTP call (repeatable).")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="TOML or JSON file listing several agents.")
@click.option("--session-expiry", type=int, default=3600, show_default=True)
@tracing_options
@observability_options(port=True)
def expose(conn: Connection, trace: TraceOptions, url: str | None,
           agent_ref: str | None, headers: tuple[str, ...], config_file: Path | None,
           session_expiry: int, observability: ObservabilityConfig) -> None:
    """Put the HTTP A2A agent at URL on MQTT as --agent (or every agent of --config)."""
    from a2a_mqtt.gateway.expose import ExposeHost  # noqa: PLC0415
    from a2a_mqtt.gateway.expose_config import (  # noqa: PLC0415
        ExposeConfig,
        ExposedAgent,
        load_expose_config,
    )

    try:
        if config_file is not None:
            if url or agent_ref:
                raise click.UsageError("give either URL --agent REF or --config FILE, not both")
            config = load_expose_config(config_file, broker_url=conn.broker
                                        if conn.explicit_broker else None,
                                        connection=conn.settings, session_expiry=session_expiry)
            config = dataclasses.replace(config, tracing=trace.config("a2a-mqtt-expose"))
        else:
            if not url or not agent_ref:
                raise click.UsageError("expose needs URL and --agent org/unit/agent "
                                       "(or --config FILE)")
            config = ExposeConfig(
                agents=(ExposedAgent(url=url, ref=AgentRef.parse(agent_ref),
                                     headers=_headers(headers)),),
                connection=conn.settings, session_expiry=session_expiry,
                tracing=trace.config("a2a-mqtt-expose"))
    except ConfigError as exc:
        raise _config_error(exc) from exc
    config = dataclasses.replace(config, observability=observability)
    names = ", ".join(f"{a.url} as {a.ref}" for a in config.agents)
    def ready() -> None:  # said once every card is fetched and announced, never before
        click.echo(f"exposing {names} on {config.connection.display_url()} (Ctrl-C to stop)",
                   err=True)
    run_async(ExposeHost(config).serve(on_ready=ready), conn=conn)


@gateway.command()
@connection_options
@click.option("--agent", "agent_ref", default="demo/examples/showcase", show_default=True)
@click.option("--no-push", is_flag=True, help="Declare no push-notification support.")
@click.option("--require-extension", default=None,
              help="Declare this extension URI as required (ExtensionSupportRequiredError).")
def showcase(conn: Connection, agent_ref: str,
             no_push: bool, require_extension: str | None) -> None:
    """Serve the showcase agent (every capability; the A2A TCK's scenarios) on MQTT."""
    from a2a_mqtt.examples.showcase import (  # noqa: PLC0415
        ShowcaseExecutor,
        showcase_card,
        showcase_extended_card,
    )
    from a2a_mqtt.server import AgentConfig, AgentHost  # noqa: PLC0415

    try:
        config = AgentConfig(
            ref=AgentRef.parse(agent_ref), executor=ShowcaseExecutor(),
            connection=conn.settings,
            card=showcase_card(push=not no_push, required_extension=require_extension),
            extended_card=showcase_extended_card(push=not no_push,
                                                 required_extension=require_extension))
    except ConfigError as exc:
        raise _config_error(exc) from exc
    def ready() -> None:  # said once connected and announced, never before
        click.echo(f"serving the showcase agent as {config.ref} on {conn.broker} "
                   "(Ctrl-C to stop)", err=True)
    run_async(AgentHost([config]).serve(on_ready=ready), conn=conn)
