"""Password hashing (Mosquitto-compatible), the local CA, and profile files."""

from __future__ import annotations

import base64
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.access.ca import LocalCA
from a2a_mqtt.access.credentials import Credentials, load_profile, profile_names, save_profile
from a2a_mqtt.access.secrets import PasswordHash, hash_password, new_password
from a2a_mqtt.errors import ConfigError


def test_hash_matches_mosquitto_ctrl() -> None:
    # Produced by `mosquitto_ctrl dynsec init f admin secretpw` (Mosquitto 2.0.11).
    got = hash_password("secretpw", salt=base64.b64decode("vGgmoY0PPhkM4fPP"))
    assert got.hash == ("Fp94wPzSZWMwSJTGoXJSJuKJdZRN5JOUE/TvYmbq15FdHgE2qq3Oe3g9irmdJNZO"
                        "L8mWsTgRdcBSPabWdjkCWA==")
    assert got.password_file_entry("u").startswith("u:$7$101$vGgmoY0PPhkM4fPP$Fp94")


def test_passwords_are_fresh_and_hashes_salted() -> None:
    assert new_password() != new_password()
    assert hash_password("x") != hash_password("x")
    secret = new_password()
    assert secret not in repr(hash_password(secret))


def test_credentials_repr_hides_the_password() -> None:
    secret = new_password()
    assert secret not in repr(Credentials(username="a/b/c", password=secret))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_ca_issues_a_verifiable_server_and_client_chain(tmp_path: Path) -> None:
    ca = LocalCA(directory=tmp_path / "ca")
    server = ca.issue_server(directory=tmp_path / "ca", hosts=("127.0.0.1", "localhost"))
    client = ca.issue_client(directory=tmp_path / "clients", identity="acme/line1/press")
    assert _mode(tmp_path / "ca" / "ca.key") == 0o600
    assert _mode(server.key_file) == 0o600 and _mode(client.key_file) == 0o600
    # The stdlib accepts the chain (the same check a client's TLS handshake makes).
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    context.load_cert_chain(str(server.cert_file), str(server.key_file))
    cert = x509.load_pem_x509_certificate(client.cert_file.read_bytes())
    assert cert.subject.rfc4514_string() == "CN=acme/line1/press"
    sans = x509.load_pem_x509_certificate(server.cert_file.read_bytes()).extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    # A second LocalCA on the same directory reuses the CA (no silent re-keying).
    before = ca.cert_file.read_bytes()
    LocalCA(directory=tmp_path / "ca")
    assert ca.cert_file.read_bytes() == before


def test_profiles_round_trip_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "profiles.toml"
    first = Credentials(broker="mqtts://h:8883", username="a/b/c", password='p"w\\x',
                        client_id="a/b/c", ca_file="/ca.crt")
    save_profile("line", first, path)
    save_profile("other", Credentials(broker="mqtt://x"), path)
    assert _mode(path) == 0o600
    assert load_profile("line", path) == first
    assert profile_names(path) == ["line", "other"]
    with pytest.raises(ConfigError, match="no profile"):
        load_profile("missing", path)


def test_a_malformed_profile_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[profiles.x]\nport = 3\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_profile("x", path)
    path.write_text("not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile("x", path)


@settings(derandomize=True, max_examples=50, deadline=None)
@given(text=st.text(max_size=40))
def test_any_profile_value_round_trips(tmp_path_factory: pytest.TempPathFactory,
                                       text: str) -> None:
    path = tmp_path_factory.mktemp("p") / "profiles.toml"
    save_profile("p", Credentials(password=text), path)
    assert load_profile("p", path).password == text


def test_password_hash_is_a_plain_value() -> None:
    assert PasswordHash(hash="h", salt="s").password_file_entry("u") == "u:$7$101$s$h"
