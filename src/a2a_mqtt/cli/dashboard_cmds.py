"""Dashboard commands: ``dashboard serve`` (flags and ``A2A_MQTT_DASHBOARD_*`` variables in,
a DashboardConfig out) and ``dashboard hash-password``."""

from __future__ import annotations

import dataclasses

import click

from a2a_mqtt.cli.common import run_async
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.errors import ConfigError

__all__ = ["dashboard"]


@click.group()
def dashboard() -> None:
    """Serve the web console: watch the fleet, inspect any agent, talk to it."""


@dashboard.command("serve")
@connection_options
@click.option("--host", envvar="A2A_MQTT_DASHBOARD_HOST", default="127.0.0.1",
              show_default=True, help="HTTP listen address.")
@click.option("--port", envvar="A2A_MQTT_DASHBOARD_PORT", type=int, default=8800,
              show_default=True, help="HTTP port (0 picks a free one).")
@click.option("--registry", "registry_url", envvar="A2A_MQTT_REGISTRY", default=None,
              help="Read the fleet from this registry (http://host:port); default: embed one.")
@click.option("--gateway-url", envvar="A2A_MQTT_DASHBOARD_GATEWAY_URL", default=None,
              help="Base URL of a gateway: agent pages link to its routes.")
@click.option("--metrics-url", "metrics_urls", envvar="A2A_MQTT_DASHBOARD_METRICS_URLS",
              multiple=True, help="A Prometheus /metrics endpoint to chart (repeatable).")
@click.option("--read-only", envvar="A2A_MQTT_DASHBOARD_READ_ONLY", is_flag=True,
              help="Fleet view only: no sending, no cancelling.")
@click.option("--password-hash", envvar="A2A_MQTT_DASHBOARD_PASSWORD_HASH", default=None,
              help="scrypt hash (dashboard hash-password): sign in with that password "
                   "before sending or cancelling.")
@click.option("--access-token", envvar="A2A_MQTT_DASHBOARD_ACCESS_TOKEN", default=None,
              help="A sign-in token (16+ characters) people enter before acting.")
@click.option("--max-upload-bytes", envvar="A2A_MQTT_DASHBOARD_MAX_UPLOAD_BYTES", type=int,
              default=4 * 1024 * 1024, show_default=True,
              help="Largest send request (text, data and files together).")
@click.option("--no-broker-sys", is_flag=True, help="Do not subscribe to $SYS/#.")
def serve(conn: Connection, host: str, port: int, registry_url: str | None,
          gateway_url: str | None, metrics_urls: tuple[str, ...], read_only: bool,
          password_hash: str | None, access_token: str | None, max_upload_bytes: int,
          no_broker_sys: bool) -> None:
    """Serve the dashboard until interrupted; prints its URL on stdout."""
    from a2a_mqtt.dashboard import DashboardConfig  # noqa: PLC0415

    try:
        config = DashboardConfig(
            connection=conn.settings, host=host, port=port, registry_url=registry_url,
            gateway_url=gateway_url, metrics_urls=metrics_urls, read_only=read_only,
            password_hash=password_hash, access_token=access_token,
            max_upload_bytes=max_upload_bytes, broker_sys=not no_broker_sys)
        if conn.identity is not None:
            # On a secure broker the dashboard calls with its own identity.
            config = dataclasses.replace(config, org=conn.identity.org,
                                         unit=conn.identity.unit,
                                         dashboard_id=conn.identity.name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc

    server = config.server()

    def started() -> None:
        click.echo(server.url)
        click.echo(f"dashboard on {server.url} watching {conn.describe_broker()} "
                   "(Ctrl-C to stop)", err=True)

    run_async(server.serve(on_ready=started), conn=conn)


@dashboard.command("hash-password")
@click.password_option(prompt="Dashboard password", help="Read from the prompt if omitted.")
def hash_password_cmd(password: str) -> None:
    """Print the scrypt hash of a password, for --password-hash."""
    from a2a_mqtt.dashboard.auth import hash_password  # noqa: PLC0415

    click.echo(hash_password(password))
