"""docs/cli.md, rendered from the click definitions so the reference cannot drift.

``python -m a2a_mqtt.cli.reference > docs/cli.md`` (or ``scripts/cli-docs``);
``tests/unit/cli/test_cli_docs.py`` fails when the committed file differs.
"""

from __future__ import annotations

import click

from a2a_mqtt.cli.main import main

__all__ = ["render"]

_HEADER = """# `a2a-mqtt` command reference

Generated from the command definitions by `scripts/cli-docs`; do not edit by hand.
Options also read `A2A_MQTT_<COMMAND>_<OPTION>` environment variables (click's
automatic prefix), and `A2A_MQTT_BROKER` where a command takes `--broker`; `--json`
output is meant for machines, everything else for people.

Without `--broker`, `A2A_MQTT_BROKER` or a profile's broker, commands use the URL
a running `a2a-mqtt broker` wrote to `$XDG_RUNTIME_DIR/a2a-mqtt/broker` (else
`<tmp>/a2a-mqtt-<uid>/broker`), and only then `mqtt://127.0.0.1:1883`, with a
note on stderr. Expected failures (broker gone, port in use, bad values) print
one line naming the broker used, and exit 1 (2 for a usage error). `send` and
`tasks subscribe` also exit 1 when the task ends FAILED, CANCELED or REJECTED
(after printing its events; the line names the state). A profile
(`--profile NAME`, docs/security.md) holds the broker URL, credentials and the
registry URL (`registry`, read by `agents list|show|watch`). Default HTTP ports:
gateway 8080, registry 8700, dashboard 8800.
"""


def _commands(group: click.Group, ctx: click.Context) -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        found.append((name, command))
    return found


def _section(path: list[str], command: click.Command, parent: click.Context,
             out: list[str]) -> None:
    ctx = click.Context(command, info_name=path[-1], parent=parent)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"\n{level} `{' '.join(path)}`\n")
    out.append("```text")
    out.append(command.get_help(ctx))
    out.append("```")
    if isinstance(command, click.Group):
        for name, sub in _commands(command, ctx):
            _section([*path, name], sub, ctx, out)


def render() -> str:
    """The whole reference as Markdown."""
    out = [_HEADER]
    # The real CLI's context settings (``-h, --help``): click caches each command's help
    # option on first use, so rendering with other names depended on test order.
    root = click.Context(main, info_name="a2a-mqtt", terminal_width=100, max_content_width=100,
                         help_option_names=main.context_settings.get("help_option_names"))
    out.append("\n## `a2a-mqtt`\n")
    out.append("```text")
    out.append(main.get_help(root))
    out.append("```")
    for name, sub in _commands(main, root):
        _section(["a2a-mqtt", name], sub, root, out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    click.echo(render(), nl=False)
