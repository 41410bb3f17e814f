"""Our generated password and ACL files against the real broker."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from access.broker import reload_broker
from tests.conftest import wait_for
from tests.integration.access_common import Session, barrier
from tests.integration.conftest import Broker


def test_a_hashed_password_we_generated_logs_in(broker: Broker) -> None:
    assert broker.login("woonbron", broker.passwords["woonbron"]) == "Success"


def test_a_wrong_password_is_refused(broker: Broker) -> None:
    assert broker.login("woonbron", "not-the-password") == "Not authorized"


def test_anonymous_clients_are_refused(broker: Broker) -> None:
    assert broker.login(None, None) == "Not authorized"


def test_a_partner_cannot_publish_into_another_partners_topics(broker: Broker) -> None:
    received: list[str] = []
    subscribed = threading.Event()
    watcher = broker.client("_ingest", client_id="acl-watcher")
    watcher.on_message = lambda _c, _u, msg: received.append(msg.topic)
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.subscribe("mainport/#", qos=1)
    assert subscribed.wait(5)

    intruder = broker.client("woonbron", client_id="acl-intruder")
    intruder.publish("mainport/gemeente-dordrecht/aq-1/telemetry", b"{}", qos=1).wait_for_publish(5)
    intruder.publish("mainport/woonbron/own-1/telemetry", b"{}", qos=1).wait_for_publish(5)
    intruder.publish("mainport/woonbron/own-2/telemetry", b"{}", qos=1).wait_for_publish(5)

    deadline = threading.Event()
    for _ in range(50):
        if len(received) >= 2:
            break
        deadline.wait(0.1)
    deadline.wait(0.3)  # room for a wrongly delivered message to show up
    for client in (watcher, intruder):
        client.disconnect()
        client.loop_stop()
    assert received == ["mainport/woonbron/own-1/telemetry", "mainport/woonbron/own-2/telemetry"]


# --- Applying a change: SIGHUP reload without dropping anyone who still may connect -------------


def test_reload_keeps_connected_clients_and_their_subscriptions(broker: Broker) -> None:
    woonbron = Session(broker.host, broker.port, "woonbron", broker.passwords["woonbron"])
    assert woonbron.connect() == "Success"
    woonbron.subscribe("mainport/woonbron/#")

    # Another partner gets an extra login: both files are rewritten and the broker reloads.
    extra = broker.store.issue("drechtsteden-datacenter", label="reload-test")
    broker.reload()
    broker.wait_for_login("drechtsteden-datacenter.reload-test", extra)  # the reload is applied

    barrier(woonbron, woonbron, "mainport/woonbron/after-reload/telemetry")
    woonbron.close()
    assert woonbron.disconnects == ["Normal disconnection"]  # ours; the broker sent none


def test_rotating_a_password_disconnects_the_old_sessions_and_refuses_the_old_password(
    broker: Broker,
) -> None:
    old = broker.store.issue("woonbron", label="rotate-test")
    broker.reload()
    broker.wait_for_login("woonbron.rotate-test", old)
    device = Session(broker.host, broker.port, "woonbron.rotate-test", old)
    assert device.connect() == "Success"

    new = broker.store.issue("woonbron", label="rotate-test")
    broker.reload()

    wait_for(lambda: bool(device.disconnects), 10, "the broker to drop the rotated session")
    device.close()
    assert broker.login("woonbron.rotate-test", old) == "Not authorized"
    assert broker.login("woonbron.rotate-test", new) == "Success"


def test_a_revoked_login_is_disconnected_and_refused(broker: Broker) -> None:
    password = broker.store.issue("woonbron", label="revoke-test")
    broker.reload()
    broker.wait_for_login("woonbron.revoke-test", password)
    device = Session(broker.host, broker.port, "woonbron.revoke-test", password)
    assert device.connect() == "Success"

    assert broker.store.revoke("woonbron.revoke-test")
    broker.reload()

    wait_for(lambda: bool(device.disconnects), 10, "the broker to drop the revoked session")
    device.close()
    assert broker.login("woonbron.revoke-test", password) == "Not authorized"


def test_reload_never_signals_a_process_that_is_not_this_broker(tmp_path: Path) -> None:
    # The pid file outlives the broker and pids are reused: SIGHUP would kill a stranger.
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "mosquitto.pid").write_text(f"{stranger.pid}\n")
        assert not reload_broker(tmp_path / "mosquitto.pid")
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_reload_finds_the_running_broker_by_its_config(broker: Broker) -> None:
    assert reload_broker(broker.directory / "mosquitto.pid")
    assert not reload_broker(broker.directory / "no-such.pid")
