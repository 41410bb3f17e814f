"""A certificate authority and server certificate for the local stack's MQTT TLS listener.

Partners' devices on a real network must not send passwords in the clear, so the local stack runs
TLS the way production does, with its own small CA instead of a public one. The CA is made once
and kept (a device that trusts `var/tls/ca.crt` keeps working across restarts); the server
certificate is re-issued when it is missing, expires within 30 days, no longer chains to the CA or
does not name every host clients connect to. Private keys are written 0600 and never leave the
data dir. In production, point `MAINPORT_MQTT_TLS_CERTFILE`/`_KEYFILE` at real certificates and
none of this runs (docs/operations.md, "MQTT over TLS in production").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.files import write_private

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers and most TLS stacks still accept for a leaf certificate
RENEW_BEFORE = timedelta(days=30)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def tls_files(directory: Path) -> TlsFiles:
    return TlsFiles(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        cert=directory / "server.crt",
        key=directory / "server.key",
    )


def ensure_local_tls(directory: Path, hosts: Iterable[str]) -> TlsFiles:
    """CA and server certificate under `directory`, made or renewed as needed (module doc)."""
    files = tls_files(directory)
    names = _names([*LOCAL_HOSTS, *hosts])
    now = datetime.now(UTC)
    if not (files.ca_cert.exists() and files.ca_key.exists()) or _expiring(files.ca_cert, now):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(files.ca_key, ca_key)
        _write_cert(files.ca_cert, _ca_certificate(ca_key, now))
        files.cert.unlink(missing_ok=True)  # signed by the old CA
    ca_key = _load_key(files.ca_key)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    if server_cert_problems(files, names, now) is not None:
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(files.key, key)
        _write_cert(files.cert, _server_certificate(key, ca_key, ca_cert, names, now))
    return files


def server_cert_problems(files: TlsFiles, names: list[str], now: datetime) -> str | None:
    """Why the server certificate must be re-issued, or None when it is fine."""
    if not (files.cert.exists() and files.key.exists()):
        return "missing"
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not issued by the current CA"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return "expires soon"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }
    missing = [n for n in names if n not in have]
    if missing:
        return f"does not name {', '.join(missing)}"
    public = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != _load_key(files.key).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return "key does not match"
    return None


def _names(hosts: Iterable[str]) -> list[str]:
    """Hosts worth naming in the certificate, deduplicated; wildcard binds name no host."""
    out: list[str] = []
    for host in hosts:
        host = host.strip("[]")
        if host and host not in ("0.0.0.0", "::") and host not in out:  # noqa: S104
            out.append(str(ipaddress.ip_address(host)) if _is_ip(host) else host)
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ca_certificate(key: Key, now: datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mainport local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Mainport local CA"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: Key, ca_key: Key, ca_cert: x509.Certificate, names: list[str], now: datetime
) -> x509.Certificate:
    alt_names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names
    ]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _expiring(cert_path: Path, now: datetime) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def _write_key(path: Path, key: Key) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem.decode())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    write_private(path, cert.public_bytes(serialization.Encoding.PEM).decode())
    path.chmod(0o644)  # certificates are public; the CA one is handed to devices


def _load_key(path: Path) -> Key:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key
