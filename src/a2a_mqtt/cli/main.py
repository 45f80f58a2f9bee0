"""``a2a-mqtt``: flags and ``A2A_MQTT_*`` environment variables in, Configs out.

No business logic lives here: every command builds a Config (or a client) and
hands it to the module that does the work. Read commands take ``--json``;
every failure exits non-zero with a one-line message.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import click

from a2a_mqtt.extras import missing_extra

__all__ = ["main"]

_T = TypeVar("_T")


#: The extra each command group's work needs (the one to name when a library is missing).
_COMMAND_EXTRA = {"example": "server", "gateway": "gateway", "registry": "registry",
                  "mcp": "mcp", "workflow": "workflows", "demo": "all",
                  "dashboard": "dashboard"}


class _Main(click.Group):
    """The boundary for a missing optional extra: one line naming it, exit 1, no traceback
    (commands import what they need when they run; a2a_mqtt/extras.py)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImportError as exc:
            missing = missing_extra(exc, extra=_COMMAND_EXTRA.get(ctx.invoked_subcommand or ""))
            if missing is None:
                raise
            raise click.ClickException(str(missing)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"],
                                          "auto_envvar_prefix": "A2A_MQTT"})
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              envvar="A2A_MQTT_LOG_FORMAT", show_default=True,
              help="json: one object per line with trace_id/span_id (docs/observability.md).")
@click.version_option(package_name="a2a-mqtt")
def main(verbose: int, log_format: str) -> None:
    """A2A agents over MQTT 5: discover, call, serve."""
    from a2a_mqtt.observability.logs import configure_logging  # noqa: PLC0415

    level = logging.WARNING - 10 * min(verbose, 2)
    configure_logging(level, "json" if log_format == "json" else "text")


def _register() -> None:
    # Imported here, after ``main`` exists; the command modules never import this one.
    from a2a_mqtt.cli import (  # noqa: PLC0415
        card_cmds,
        client_cmds,
        dashboard_cmds,
        gateway_cmds,
        identity_cmds,
        registry_cmds,
        serve_cmds,
        token_cmds,
        workflow_cmds,
    )

    main.add_command(client_cmds.agents)
    main.add_command(client_cmds.send)
    main.add_command(client_cmds.tasks)
    main.add_command(serve_cmds.broker)
    main.add_command(serve_cmds.example)
    main.add_command(serve_cmds.demo)
    main.add_command(registry_cmds.registry)
    main.add_command(gateway_cmds.gateway)
    main.add_command(identity_cmds.identity)
    main.add_command(token_cmds.token)
    main.add_command(card_cmds.card)
    main.add_command(workflow_cmds.workflow)
    main.add_command(dashboard_cmds.dashboard)
    from a2a_mqtt.cli import workflow_events_cmds  # noqa: PLC0415
    workflow_cmds.workflow.add_command(workflow_events_cmds.stages)
    workflow_cmds.workflow.add_command(workflow_events_cmds.emit)
    from a2a_mqtt.cli.mcp_cmds import mcp_group  # noqa: PLC0415
    main.add_command(mcp_group)
    _show_envvars(main)


def _show_envvars(command: click.Command) -> None:
    """Name each option's own environment variable in ``--help`` (and so in docs/cli.md);
    click's automatic ``A2A_MQTT_<COMMAND>_<OPTION>`` ones are described once, at the top."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _show_envvars(sub)


_register()


if __name__ == "__main__":
    main()
