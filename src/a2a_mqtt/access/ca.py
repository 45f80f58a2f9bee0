"""A local certificate authority for the secure broker, built with ``cryptography``.

:class:`LocalCA` keeps ``ca.crt``/``ca.key`` in one directory, creating them on
first use, and issues server certificates (for the broker's TLS listener, with
the host names and addresses clients use) and client certificates (CN = the
identity, for mTLS). Keys are ECDSA P-256 and written with mode 0600; nothing here
logs or returns key material except as files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertPair", "LocalCA", "write_private"]

_CA_DAYS: Final = 3650
_LEAF_DAYS: Final = 825
_CA_NAME: Final = "a2a-mqtt local CA"


@dataclass(frozen=True, slots=True)
class CertPair:
    """Where a certificate and its key were written."""

    cert_file: Path
    key_file: Path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


class LocalCA:
    """A CA living in ``directory`` (``ca.crt``, ``ca.key``); created on first use."""

    def __init__(self, *, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.cert_file.exists() or not self._key_file.exists():
            self._create()
        self._cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        key = serialization.load_pem_private_key(self._key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{self._key_file} does not hold an EC private key")
        self._key = key

    @property
    def cert_file(self) -> Path:
        """The CA certificate clients trust (``--ca-file``)."""
        return self.directory / "ca.crt"

    @property
    def _key_file(self) -> Path:
        return self.directory / "ca.key"

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False),
                    critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        write_private(self._key_file, _key_pem(key))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue_server(self, *, directory: Path, hosts: tuple[str, ...]) -> CertPair:
        """A TLS server certificate valid for ``hosts`` (names or IP addresses)."""
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(directory / "server", hosts[0] if hosts else "a2a-mqtt broker",
                           ExtendedKeyUsageOID.SERVER_AUTH, names)

    def issue_client(self, *, directory: Path, identity: str) -> CertPair:
        """A TLS client certificate whose subject CN is ``identity`` (``org/unit/agent``)."""
        stem = identity.replace("/", "+")
        return self._issue(directory / stem, identity, ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def _issue(self, stem: Path, common_name: str, usage: x509.ObjectIdentifier,
               names: list[x509.GeneralName]) -> CertPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                               common_name)]))
                   .issuer_name(self._cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self._key.public_key()), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        pair = CertPair(cert_file=stem.with_suffix(".crt"), key_file=stem.with_suffix(".key"))
        write_private(pair.key_file, _key_pem(key))
        pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return pair


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
