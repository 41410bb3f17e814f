"""How Mosquitto's persistence settings trade throughput and disk writes for acknowledged data
lost when the broker is killed. Prints figures; not a test.

Mosquitto PUBACKs a QoS 1 message once it holds it in memory and writes its whole in-memory
database (every queued message) to `mosquitto.db` on a save: every `autosave_interval` seconds,
or, with `autosave_on_changes true`, every `autosave_interval` changes. A kill -9 loses what was
acknowledged after the last save. Per setting, on a broker of its own (temporary directory, free
loopback port):

1. an ingest-like client (clean_session false, QoS 1 subscription) connects once and goes away,
   so the broker queues everything for it, as while the ingest is down or its spool is full;
2. one publisher sends N QoS 1 messages, each with its sequence number, as fast as the broker
   acknowledges them (a window of unacked messages); timed from first publish to last PUBACK;
3. kill -9 of the broker right after the last PUBACK; restart on the same data directory;
4. the client reconnects and counts the distinct sequence numbers it gets: lost = N − those.

Printed per setting: msg/s (and as a ratio to persistence off, measured in the same run),
bytes written to disk per second and per message (/proc/PID/io write_bytes, as root or the
broker's user), saves seen, acknowledged messages lost, and the save time of the backlog at
the end (time of a clean stop, which saves once).

Run: .venv/bin/python bench/broker_persistence.py [--messages N]
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.processes import free_port, tcp_answers, wait_until
from mainport.services import find_binary

TOPIC = "bench/q"
WINDOW = 200  # unacked QoS 1 messages in flight per publishing client
PUBLISHERS = 4


@dataclass(frozen=True)
class Setting:
    name: str
    conf: str  # persistence lines of mosquitto.conf


SETTINGS = (
    Setting("off", "persistence false\n"),
    Setting("interval 60 s (compose before)", "persistence true\nautosave_interval 60\n"),
    Setting("interval 10 s (up before)", "persistence true\nautosave_interval 10\n"),
    Setting("interval 1 s", "persistence true\nautosave_interval 1\n"),
    Setting(
        "on changes 10000",
        "persistence true\nautosave_on_changes true\nautosave_interval 10000\n",
    ),
    Setting(
        "on changes 1000",
        "persistence true\nautosave_on_changes true\nautosave_interval 1000\n",
    ),
)


@dataclass
class Result:
    setting: Setting
    seconds: float
    write_bytes: int
    lost: int
    clean_save_s: float


class Broker:
    def __init__(self, directory: Path, setting: Setting) -> None:
        self.port = free_port()
        self.directory = directory
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
            f"persistence_location {directory / 'data'}/\n{setting.conf}"
            "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
            "log_dest none\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [find_binary("mosquitto", "/usr/sbin"), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: tcp_answers("127.0.0.1", self.port), timeout_s=20, what="mosquitto")

    def write_bytes(self) -> int:
        assert self.proc is not None
        for row in Path(f"/proc/{self.proc.pid}/io").read_text().splitlines():
            if row.startswith("write_bytes:"):
                return int(row.split()[1])
        return 0

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(60)


def client(port: int, client_id: str, clean: bool) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    c.max_inflight_messages_set(WINDOW)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    return c


def subscribe_once(port: int) -> None:
    """The ingest's session, then gone: the broker queues every message for it."""
    done = threading.Event()
    c = client(port, "ingest-like", clean=False)
    c.on_subscribe = lambda *_a: done.set()
    c.loop_start()
    c.subscribe(TOPIC, qos=1)
    if not done.wait(10):
        raise TimeoutError("no SUBACK")
    c.disconnect()
    c.loop_stop()


def publish(port: int, count: int) -> float:
    """QoS 1 from PUBLISHERS clients, WINDOW unacked each; returns seconds to the last PUBACK."""
    clients: list[tuple[mqtt.Client, threading.Semaphore]] = []
    for k in range(PUBLISHERS):
        slots = threading.Semaphore(WINDOW)
        c = client(port, f"publisher-{k}", clean=True)
        c.on_publish = lambda *_a, s=slots: s.release()
        c.loop_start()
        clients.append((c, slots))
    started = time.perf_counter()
    for seq in range(count):
        c, slots = clients[seq % PUBLISHERS]
        slots.acquire()
        c.publish(TOPIC, f"{seq:09d}".encode(), qos=1)
    for _c, slots in clients:
        for _ in range(WINDOW):
            slots.acquire()
    seconds = time.perf_counter() - started
    for c, _ in clients:
        c.disconnect()
        c.loop_stop()
    return seconds


def received_after_restart(port: int, count: int) -> int:
    seen: set[int] = set()
    last = [time.monotonic()]

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        seen.add(int(msg.payload))
        last[0] = time.monotonic()

    c = client(port, "ingest-like", clean=False)
    c.on_message = on_message
    c.loop_start()
    while len(seen) < count and time.monotonic() - last[0] < 3.0:
        time.sleep(0.1)
    c.disconnect()
    c.loop_stop()
    return len(seen)


def run(setting: Setting, count: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="mp-persist-") as tmp:
        broker = Broker(Path(tmp), setting)
        broker.start()
        try:
            subscribe_once(broker.port)
            before = broker.write_bytes()
            seconds = publish(broker.port, count)
            written = broker.write_bytes() - before
            broker.kill()
            broker.start()
            lost = count - received_after_restart(broker.port, count)
            # Once more, to time the save of a full backlog (what a clean stop writes).
            publish(broker.port, count)
            started = time.perf_counter()
            broker.kill(signal.SIGTERM)
            clean_save_s = time.perf_counter() - started
        finally:
            if broker.proc is not None and broker.proc.poll() is None:
                broker.kill()
    return Result(setting, seconds, written, lost, clean_save_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--only", help="comma-separated setting names (default: all)")
    args = parser.parse_args()
    chosen = [s for s in SETTINGS if not args.only or s.name in args.only.split(",")]
    print(f"{args.messages} QoS 1 messages queued for a disconnected session, then kill -9")
    print(f"mosquitto: {find_binary('mosquitto', '/usr/sbin')}, pid {os.getpid()} bench")
    results = [run(s, args.messages) for s in chosen]
    base = next((r for r in results if r.setting.name == "off"), results[0])
    header = (
        f"{'setting':<32}{'msg/s':>9}{'ratio':>7}{'MB/s disk':>11}{'B/msg':>8}"
        f"{'lost':>8}{'clean save s':>14}"
    )
    print(header)
    for r in results:
        rate = args.messages / r.seconds
        print(
            f"{r.setting.name:<32}{rate:>9.0f}{rate / (args.messages / base.seconds):>7.2f}"
            f"{r.write_bytes / r.seconds / 1e6:>11.1f}{r.write_bytes / args.messages:>8.0f}"
            f"{r.lost:>8}{r.clean_save_s:>14.2f}"
        )


if __name__ == "__main__":
    main()
