"""Real receivers for the alert tests: an HTTP sink that records what is posted to it (the
webhooks, and what Alertmanager routes to its own webhook), and a real Alertmanager."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from core.processes import Child, free_port, tcp_answers, wait_until

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Records every POST; answers `status` (set it to 500 to play a dead receiver)."""

    port: int
    received: list[Received] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


def start_sink() -> tuple[HttpSink, ThreadingHTTPServer]:
    sink = HttpSink(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if sink.status == 200:
                with sink.lock:
                    sink.received.append(Received(self.path, dict(self.headers), body))
            self.send_response(sink.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", sink.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink, server


def start_alertmanager(root: Path, webhook_url: str) -> tuple[str, Child]:
    """A real Alertmanager on a free loopback port, routing every alert (grouped per alert id,
    without waiting) to `webhook_url`, resolves included. Stopped by PID (Child.stop)."""
    port = free_port()
    config = root / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: ['alert_id']\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 4h\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: '{webhook_url}'\n"
        "        send_resolved: true\n"
    )
    child = Child(
        "alertmanager",
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={root / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        log_file=root / "alertmanager.log",
    )
    child.start()
    wait_until(
        lambda: tcp_answers("127.0.0.1", port), timeout_s=30, what="alertmanager", child=child
    )
    return f"http://127.0.0.1:{port}", child
