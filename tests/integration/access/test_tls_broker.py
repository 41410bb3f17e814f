"""MQTT over TLS: the local CA and server certificate, and the real broker's TLS listener."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from access.broker import write_broker_files
from access.tls import TlsFiles, ensure_local_tls
from core.processes import free_port
from mainport.services import BrokerConfig, TlsListener, start_broker
from tests.integration.access_common import Session, barrier, tls_handshake_error
from tests.integration.conftest import Broker

HOST = "127.0.0.1"


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
