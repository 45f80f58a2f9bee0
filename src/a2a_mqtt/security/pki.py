"""A local certificate authority for HTTPS endpoints (JWKS) in tests, demos and benches.

Made with ``cryptography``: one EC P-256 CA, server certificates it signs for
the given host names and IP addresses. Private keys are written 0600. For
production, bring certificates from your own PKI; this exists so that every
HTTPS hop here is real TLS with real certificate validation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["LocalCA", "ServerCert"]

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class ServerCert:
    """A server certificate and its key, as PEM files."""

    cert_file: Path
    key_file: Path


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class LocalCA:
    """A CA whose certificate and key live in ``directory`` (``ca.pem``, ``ca.key``)."""

    def __init__(self, *, directory: Path, cert: x509.Certificate,
                 key: ec.EllipticCurvePrivateKey) -> None:
        self.directory = directory
        self.cert = cert
        self._key = key

    @property
    def cert_file(self) -> Path:
        return self.directory / "ca.pem"

    @classmethod
    def create(cls, directory: Path, *, name: str = "a2a-mqtt local CA",
               days: int = 365) -> LocalCA:
        """A new CA in ``directory`` (created if needed); overwrites an existing one."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(name)).issuer_name(_name(name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - _DAY).not_valid_after(now + days * _DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        ca = cls(directory=directory, cert=cert, key=key)
        ca.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(directory / "ca.key", key)
        return ca

    @classmethod
    def load(cls, directory: Path) -> LocalCA:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{directory / 'ca.key'} is not an EC private key")
        return cls(directory=directory, cert=cert, key=key)

    def issue_server(self, name: str, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
                     days: int = 90) -> ServerCert:
        """A server certificate for ``hosts`` (DNS names or IP addresses), as
        ``{name}.pem`` and ``{name}.key`` beside the CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(hosts[0])).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - _DAY).not_valid_after(now + days * _DAY)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(self._key, hashes.SHA256()))
        out = ServerCert(cert_file=self.directory / f"{name}.pem",
                         key_file=self.directory / f"{name}.key")
        out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(out.key_file, key)
        return out
