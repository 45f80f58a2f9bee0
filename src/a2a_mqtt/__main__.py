"""``python -m a2a_mqtt`` and the ``a2a-mqtt`` command: process start-up, then the CLI.

Start-up decisions that must precede the first import of a2a-sdk happen here,
not on ``import a2a_mqtt`` (a2a_mqtt/telemetry.py).
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """The ``a2a-mqtt`` console script."""
    from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off  # noqa: PLC0415

    prefer_a2a_sdk_spans_off()
    from a2a_mqtt.cli.main import main as cli  # noqa: PLC0415 - after the decision above

    cli()


if __name__ == "__main__":
    main()
