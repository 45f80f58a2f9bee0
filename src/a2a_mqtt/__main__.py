"""``python -m a2a_mqtt`` is the ``a2a-mqtt`` command."""

from a2a_mqtt.cli.main import main

main()
