"""``a2a-mqtt token``: the local token issuer (keys, rotation, JWTs, its JWKS over HTTPS).

The security modules are imported inside each command: every other command of
the CLI starts without loading JOSE, cryptography or the HTTPS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from a2a_mqtt.cli.common import run_async
from a2a_mqtt.cli.output import echo_json

if TYPE_CHECKING:
    from a2a_mqtt.security.issuer import TokenIssuer
    from a2a_mqtt.security.jwks_server import JwksServerConfig

__all__ = ["token"]

_DIR = click.Path(file_okay=False, path_type=Path)


def _issuer(directory: Path) -> TokenIssuer:
    from a2a_mqtt.security.issuer import TokenIssuer  # noqa: PLC0415 - see the docstring

    return TokenIssuer(directory)


@click.group()
def token() -> None:
    """A small local OAuth2-style issuer: ES256 JWTs and a JWKS served over HTTPS."""


@token.command("init")
@click.argument("directory", type=_DIR)
@click.option("--issuer", required=True, help="The issuer name (the tokens' iss), a URL.")
def init(directory: Path, issuer: str) -> None:
    """Create an issuer with one signing key in DIRECTORY."""
    from a2a_mqtt.security.issuer import TokenIssuer  # noqa: PLC0415

    created = TokenIssuer.create(directory, issuer=issuer)
    click.echo(f"issuer {created.issuer} created in {directory} (kid {created.active_kid})")


@token.command("rotate")
@click.argument("directory", type=_DIR)
def rotate(directory: Path) -> None:
    """Add a new active signing key; the previous one stays published."""
    click.echo(_issuer(directory).rotate())


@token.command("issue")
@click.argument("directory", type=_DIR)
@click.option("--subject", "--sub", required=True, help="Who the token speaks for (sub).")
@click.option("--audience", "--aud", required=True, help="The agent it is for (aud).")
@click.option("--scope", "scopes", multiple=True, help="A granted scope (repeatable).")
@click.option("--ttl", type=int, default=300, show_default=True, help="Lifetime, seconds.")
def issue(directory: Path, subject: str, audience: str, scopes: tuple[str, ...],
          ttl: int) -> None:
    """Print a signed JWT (the only output, for $(...) capture)."""
    click.echo(_issuer(directory).issue(subject=subject, audience=audience, scopes=scopes,
                                            ttl=ttl))


@token.command("jwks")
@click.argument("directory", type=_DIR)
def jwks(directory: Path) -> None:
    """Print the public JWKS."""
    echo_json(_issuer(directory).jwks())


@token.command("serve")
@click.argument("directory", type=_DIR)
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Server certificate (PEM); default: one from a local CA in --tls-dir.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--tls-dir", type=_DIR, default=None,
              help="Where the local CA lives (created if absent); default DIRECTORY/tls.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8443, show_default=True)
def serve(directory: Path, cert: Path | None, key: Path | None, tls_dir: Path | None,
          host: str, port: int) -> None:
    """Serve the JWKS at https://HOST:PORT/.well-known/jwks.json until interrupted."""
    from a2a_mqtt.access.ca import LocalCA  # noqa: PLC0415
    from a2a_mqtt.security.jwks_server import JwksServerConfig  # noqa: PLC0415

    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    if cert is None or key is None:
        where = tls_dir or directory / "tls"
        ca = LocalCA(directory=where)  # created on first use
        server_cert = ca.issue_server(directory=where / "jwks", hosts=(host, "localhost"))
        cert, key = server_cert.cert_file, server_cert.key_file
        click.echo(f"CA certificate (trust it in verifiers): {ca.cert_file}", err=True)
    config = JwksServerConfig(issuer_dir=directory, cert_file=cert, key_file=key, host=host,
                              port=port)
    run_async(_serve(config))


async def _serve(config: JwksServerConfig) -> None:
    from a2a_mqtt.security.jwks_server import JwksServer  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with JwksServer(config) as server:
        click.echo(server.jwks_url)
        await stop.wait()
