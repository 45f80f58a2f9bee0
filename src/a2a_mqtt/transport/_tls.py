"""The SSL context for ``mqtts://`` and ``wss://`` connections, from our TLS options."""

from __future__ import annotations

import ssl

from a2a_mqtt.transport.base import TLSConfig

__all__ = ["build_ssl_context"]


def build_ssl_context(tls: TLSConfig | None) -> ssl.SSLContext:
    """An SSL context from our TLS options (system trust store by default).

    A context given in ``TLSConfig.context`` is used as it is; otherwise the
    CA file, client certificate and ``insecure_skip_verify`` shape a default one.
    """
    if tls is not None and tls.context is not None:
        return tls.context
    ctx = ssl.create_default_context(cafile=tls.ca_file if tls else None)
    if tls is not None:
        if tls.cert_file is not None:
            ctx.load_cert_chain(tls.cert_file, tls.key_file, password=tls.key_password)
        if tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    return ctx
