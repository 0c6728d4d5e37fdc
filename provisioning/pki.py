"""A private CA and the broker's server certificate (EC P-256), for TLS between devices and mosquitto."""

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

CA_DAYS = 3650
SERVER_DAYS = 825  # the longest server lifetime browsers and most TLS stacks still accept


class PkiError(Exception):
    """The PKI folder is missing something or would be overwritten."""


@dataclass(frozen=True)
class PkiPaths:
    """Where the CA and the broker certificate live (keys are written 0600)."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        """CA certificate, PEM: copied into every device bundle."""
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """CA private key, PEM: never leaves the hub."""
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        """Broker certificate, PEM."""
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        """Broker private key, PEM."""
        return self.root / "server.key"

    def exists(self) -> bool:
        """True when the CA and the server certificate are all there."""
        return all(p.exists() for p in (self.ca_cert, self.ca_key, self.server_cert, self.server_key))


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # created with the final mode, so a private key is never readable by others, not even briefly
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(paths: PkiPaths, name: str = "restock local CA", days: int = CA_DAYS, force: bool = False) -> None:
    """Create a CA key and self-signed certificate; refuses to replace an existing CA unless force."""
    if paths.ca_cert.exists() and not force:
        raise PkiError(f"{paths.ca_cert} exists: every device pins it, so replacing it needs --force")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(paths.ca_key, _key_pem(key), 0o600)
    _write(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue_server(paths: PkiPaths, hosts: list[str], days: int = SERVER_DAYS) -> None:
    """Issue (or re-issue) the broker's certificate for hosts (DNS names or IP addresses), signed by the CA."""
    if not hosts:
        raise PkiError("the server certificate needs at least one host name")
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        raise PkiError(f"no CA in {paths.root}: run 'restock pki init' first")
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{paths.ca_key} is not an EC key")
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths.server_key, _key_pem(key), 0o600)
    _write(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def server_hosts(paths: PkiPaths) -> list[str]:
    """The names and addresses the current server certificate is valid for."""
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]


def init(paths: PkiPaths, hosts: list[str], force: bool = False) -> None:
    """Create the CA and the broker certificate in one go (`restock pki init`)."""
    create_ca(paths, force=force)
    issue_server(paths, hosts)
