"""Test PKI made with `cryptography`: a CA, a server certificate for 127.0.0.1/localhost, and
client certificates signed by that CA or by an unrelated CA (the "wrong" certificate)."""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertFiles:
    """PEM files: certificate, private key, and the CA certificate that signed it."""

    cert: Path
    key: Path
    ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ca(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert, _write_cert(cert, directory / f"{name}.pem")


def _leaf(directory: Path, name: str, ca_key: ec.EllipticCurvePrivateKey,
          ca_cert: x509.Certificate, ca_path: Path, server: bool) -> CertFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertFiles(_write_cert(cert, directory / f"{name}.pem"),
                     _write_key(key, directory / f"{name}.key"), ca_path)


@dataclass(frozen=True)
class TestPki:
    """server: signed by the CA; client: signed by the CA; rogue_client: signed by another CA."""

    server: CertFiles
    client: CertFiles
    rogue_client: CertFiles


def make_pki(directory: Path) -> TestPki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert, ca_path = _ca(directory, "test-ca")
    rogue_key, rogue_cert, rogue_path = _ca(directory, "rogue-ca")
    return TestPki(
        server=_leaf(directory, "server", ca_key, ca_cert, ca_path, server=True),
        client=_leaf(directory, "client", ca_key, ca_cert, ca_path, server=False),
        rogue_client=_leaf(directory, "rogue-client", rogue_key, rogue_cert, rogue_path,
                           server=False),
    )
