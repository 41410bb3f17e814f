"""access.tls: the local CA and the server certificate it signs, kept and renewed on disk
(the broker's TLS listener is tested in tests/integration/access/test_tls_broker.py)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from access.tls import ensure_local_tls, server_cert_problems


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
        str(n) for n in san.get_values_for_type(x509.IPAddress)
    }


def test_local_ca_and_server_certificate_are_made_with_private_keys_0600(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path / "tls", ["mqtt.example.net"])

    for key in (files.ca_key, files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _names(files.cert) == {"localhost", "127.0.0.1", "::1", "mqtt.example.net"}
    assert server_cert_problems(files, ["localhost", "127.0.0.1"], datetime.now(UTC)) is None


def test_the_ca_is_kept_and_the_server_certificate_reissued_for_new_hosts(
    tmp_path: Path,
) -> None:
    first = ensure_local_tls(tmp_path, [])
    ca_before, cert_before = first.ca_cert.read_bytes(), first.cert.read_bytes()

    assert ensure_local_tls(tmp_path, []).cert.read_bytes() == cert_before  # nothing to do
    again = ensure_local_tls(tmp_path, ["10.0.0.5"])

    assert again.ca_cert.read_bytes() == ca_before  # devices that trust the CA keep working
    assert again.cert.read_bytes() != cert_before
    assert "10.0.0.5" in _names(again.cert)


def test_a_server_certificate_close_to_expiry_is_renewed(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path, [])
    in_a_year = datetime.now(UTC) + timedelta(days=380)
    assert server_cert_problems(files, ["localhost"], in_a_year) == "expires soon"
