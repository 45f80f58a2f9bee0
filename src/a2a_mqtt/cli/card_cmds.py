"""``a2a-mqtt card``: card signing keys, signing a card file, verifying one.

The security modules are imported inside each command (see token_cmds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from a2a_mqtt.cli.output import echo_json
from a2a_mqtt.errors import ConfigError

__all__ = ["card"]

_FILE = click.Path(dir_okay=False, path_type=Path)
_KEEP_KEYS = 2


@click.group()
def card() -> None:
    """Signed Agent Cards (A2A 1.0 signatures: JWS over the RFC 8785 card)."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None


@card.command("keygen")
@click.argument("key_file", type=_FILE)
def keygen(key_file: Path) -> None:
    """Create KEY_FILE (a private JWKS, 0600) with one ES256 signing key."""
    from a2a_mqtt.security.keys import new_signing_key, save_key_set  # noqa: PLC0415

    if key_file.exists():
        raise click.ClickException(f"{key_file} exists; use `card rotate`")
    key = new_signing_key()
    save_key_set(key_file, [key])
    click.echo(key.kid)


@card.command("rotate")
@click.argument("key_file", type=_FILE)
def rotate(key_file: Path) -> None:
    """Add a new active key to KEY_FILE; the previous one stays (publish both)."""
    from a2a_mqtt.security.keys import load_key_set, new_signing_key, save_key_set  # noqa: PLC0415

    keys = [*load_key_set(key_file), new_signing_key()][-_KEEP_KEYS:]
    save_key_set(key_file, keys)
    click.echo(keys[-1].kid)


@card.command("jwks")
@click.argument("key_file", type=_FILE)
def jwks(key_file: Path) -> None:
    """Print the public JWKS of KEY_FILE (to serve at the signer's jku, or to trust)."""
    from a2a_mqtt.security.keys import load_key_set, public_jwks  # noqa: PLC0415

    echo_json(public_jwks(load_key_set(key_file)))


@card.command("sign")
@click.argument("card_file", type=_FILE)
@click.option("--key", "key_file", type=_FILE, required=True, help="Private JWKS; last is used.")
@click.option("--jku", default=None, help="https URL of the signer's JWKS, put in the header.")
@click.option("-o", "--output", type=_FILE, default=None, help="Write here (default: stdout).")
def sign(card_file: Path, key_file: Path, jku: str | None, output: Path | None) -> None:
    """Sign the card JSON in CARD_FILE (its signatures are replaced)."""
    from a2a_mqtt.security.cards import sign_card_data  # noqa: PLC0415
    from a2a_mqtt.security.keys import load_key_set  # noqa: PLC0415

    data = _read_json(card_file)
    if not isinstance(data, dict):
        raise click.ClickException("a card is a JSON object")
    if jku is not None and not jku.startswith("https://"):
        raise click.UsageError("--jku must be an https:// URL")
    signed = sign_card_data(data, load_key_set(key_file)[-1], jku=jku)
    text = json.dumps(signed, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@card.command("verify")
@click.argument("card_file", type=_FILE)
@click.option("--trust", "trusted", type=_FILE, multiple=True,
              help="A JWKS file of trusted signing keys (repeatable).")
def verify(card_file: Path, trusted: tuple[Path, ...]) -> None:
    """Verify CARD_FILE's signature against trusted keys; exit 1 if it does not verify."""
    from a2a_mqtt.security.cards import CardPolicy  # noqa: PLC0415

    try:
        policy = CardPolicy.from_files(mode="require", key_files=list(trusted))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    check = policy.check(_read_json(card_file))
    if check.verified:
        click.echo(f"verified (kid {check.kid})")
        return
    for reason in check.reasons:
        click.echo(reason, err=True)
    raise SystemExit(1)
