"""MQTT over TLS: the local CA and server certificate, and the real broker's TLS listener."""

from __future__ import annotations

import ssl
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from access.broker import write_broker_files
from access.tls import TlsFiles, ensure_local_tls, server_cert_problems
from core.processes import free_port
from mainport.services import BrokerConfig, TlsListener, start_broker
from tests.integration.access_common import Session, barrier, tls_handshake_error
from tests.integration.conftest import Broker

HOST = "127.0.0.1"


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


@pytest.fixture(scope="module")
def tls_broker(
    tmp_path_factory: pytest.TempPathFactory, broker: Broker
) -> Iterator[tuple[int, int, TlsFiles]]:
    """A second broker with the session's logins, listening plain and with TLS."""
    root = tmp_path_factory.mktemp("tls-broker")
    files = ensure_local_tls(root / "tls", [HOST])
    tls_port = free_port()
    cfg = BrokerConfig(
        HOST, free_port(), root / "mosquitto", tls=TlsListener(tls_port, files.cert, files.key)
    )
    write_broker_files(broker.store, broker.registry, "mainport", cfg.directory)
    child = start_broker(cfg, root / "log")
    yield cfg.port, tls_port, files
    child.stop()


def test_a_client_that_trusts_the_local_ca_connects_over_tls(
    tls_broker: tuple[int, int, TlsFiles], broker: Broker
) -> None:
    _plain, tls_port, files = tls_broker
    device = Session(
        HOST, tls_port, "woonbron", broker.passwords["woonbron"], ca_file=files.ca_cert
    )
    try:
        assert device.connect() == "Success"
        device.subscribe("mainport/woonbron/#")
        barrier(device, device, "mainport/woonbron/tls-check/telemetry")
    finally:
        device.close()


def test_a_client_without_the_ca_is_refused_by_its_own_certificate_check(
    tls_broker: tuple[int, int, TlsFiles],
) -> None:
    _plain, tls_port, _files = tls_broker
    # The system's trust store does not know the local CA: the handshake must fail.
    error = tls_handshake_error(HOST, tls_port, ssl.create_default_context())
    assert error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in error


def test_the_certificate_names_localhost_too(tls_broker: tuple[int, int, TlsFiles]) -> None:
    _plain, tls_port, files = tls_broker
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    assert tls_handshake_error("localhost", tls_port, context) is None


@pytest.mark.parametrize(("username", "password"), [(None, None), ("woonbron", "not-the-password")])
def test_tls_does_not_relax_authentication(
    tls_broker: tuple[int, int, TlsFiles], username: str | None, password: str | None
) -> None:
    _plain, tls_port, files = tls_broker
    client = Session(HOST, tls_port, username, password, ca_file=files.ca_cert)
    try:
        assert client.connect() == "Not authorized"
    finally:
        client.close()


def test_plain_mqtt_on_the_tls_port_gets_no_session(
    tls_broker: tuple[int, int, TlsFiles], broker: Broker
) -> None:
    _plain, tls_port, _files = tls_broker
    client = Session(HOST, tls_port, "woonbron", broker.passwords["woonbron"])
    try:
        assert client.connect().startswith("no CONNACK")
    finally:
        client.close()
