"""``a2a-mqtt card`` and ``a2a-mqtt token`` on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from joserfc import jwt

from a2a_mqtt.binding.card import card_to_dict
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.security.keys import load_key_set


def run(*args: str) -> tuple[int, str, str]:
    # A process per call, as a user runs it (in-process runs would also leave click's
    # per-command caches shaped by this test).
    proc = subprocess.run([sys.executable, "-m", "a2a_mqtt", *args], capture_output=True,
                          text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_card_keygen_sign_verify_rotate(tmp_path: Path) -> None:
    keys, pub = tmp_path / "card-keys.json", tmp_path / "card-jwks.json"
    card, signed = tmp_path / "card.json", tmp_path / "signed.json"
    card.write_text(json.dumps(card_to_dict(echo_card())))
    code, kid, _ = run("card", "keygen", str(keys))
    assert code == 0 and (keys.stat().st_mode & 0o777) == 0o600
    code, out, _ = run("card", "jwks", str(keys))
    assert code == 0 and "\"d\"" not in out
    pub.write_text(out)
    assert run("card", "sign", str(card), "--key", str(keys), "-o", str(signed))[0] == 0
    code, out, _ = run("card", "verify", str(signed), "--trust", str(pub))
    assert code == 0 and kid.strip() in out
    tampered = json.loads(signed.read_text())
    tampered["version"] = "9.9.9"
    signed.write_text(json.dumps(tampered))
    code, _, err = run("card", "verify", str(signed), "--trust", str(pub))
    assert code == 1 and "does not verify" in err
    code, new_kid, _ = run("card", "rotate", str(keys))
    assert code == 0 and [k.kid for k in load_key_set(keys)] == [kid.strip(), new_kid.strip()]


def test_token_init_issue_rotate(tmp_path: Path) -> None:
    where = tmp_path / "issuer"
    assert run("token", "init", str(where), "--issuer", "https://issuer.test")[0] == 0
    code, token, _ = run("token", "issue", str(where), "--sub", "me", "--aud", "o/u/a",
                         "--scope", "read", "--scope", "write", "--ttl", "60")
    assert code == 0
    keys = load_key_set(where / "keys.json")
    claims = jwt.decode(token.strip(), keys[-1]).claims
    assert claims["iss"] == "https://issuer.test" and claims["scope"] == "read write"
    code, kid, _ = run("token", "rotate", str(where))
    code, jwks, _ = run("token", "jwks", str(where))
    assert kid.strip() in jwks and len(json.loads(jwks)["keys"]) == 2
