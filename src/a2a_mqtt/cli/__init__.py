"""The ``a2a-mqtt`` command line."""
