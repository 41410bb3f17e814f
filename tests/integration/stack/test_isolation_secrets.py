"""No plaintext secret on disk or in a log after a demo-like run.

`mainport up --simulate` on free ports and a fresh data dir, then everything an operator does:
partner credentials (also rotated, and an extra labelled login), tokens, a grant, logins over
plain MQTT and TLS, API calls with good and bad tokens. The run-time passwords that `up` mints
for its own children are read from their environment. After Ctrl-C every file of the run, the
repository's working tree and the logs are searched for every one of those values.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from access.broker import AccountStore, hash_password
from core.processes import free_port
from tests.conftest import PARTNERS_FILE, REPO, control_engine, wait_for
from tests.integration.access_common import A, B, Session, bearer


def _mainport(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mainport", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def _child_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _repo_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return [REPO / name.decode() for name in listed if name and (REPO / name.decode()).is_file()]


def test_a_demo_run_leaves_no_plaintext_secret_anywhere(tmp_path: Path) -> None:
    data = tmp_path / "var"
    mqtt_port, tls_port, api_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_DATA_DIR=str(data),
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
        MAINPORT_MQTT_PORT=str(mqtt_port),
        MAINPORT_MQTT_TLS_PORT=str(tls_port),
        MAINPORT_INFLUX_URL=f"http://127.0.0.1:{free_port()}",
        MAINPORT_API_PORT=str(api_port),
        PYTHONUNBUFFERED="1",
    )
    api = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "up.log"
    with log.open("w") as out:
        stack = subprocess.Popen(
            # Live at once (no demo history backfill): the simulator's environment is read below.
            [sys.executable, "-m", "mainport", "up", "--simulate", "--no-history"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    try:
        wait_for(lambda: httpx.get(f"{api}/readyz").status_code == 200, 60, "the stack")
        first = _mainport(env, "credentials", "issue", B)
        rotated = _mainport(env, "credentials", "issue", B)
        gateway = _mainport(env, "credentials", "issue", A, "--label", "gw-1")
        operator = _mainport(env, "token", "issue", "--operator")
        partner = _mainport(env, "token", "issue", "--partner", B)
        _mainport(env, "grant", "add", "--from", A, "--to", B, "--purpose", "t", "aq-spuiboulevard")
        pids = {
            m[1]: int(m[2]) for m in re.finditer(r"(\w+) started \(pid (\d+)\)", log.read_text())
        }
        simulated = json.loads(_child_environ(pids["simulator"])["MAINPORT_SIM_CREDENTIALS"])
        runtime = [
            _child_environ(pids["ingest"])["MAINPORT_MQTT_PASSWORD"],
            *(password for _username, password in simulated.values()),
        ]
        # One device login per simulated device (the broker binds client ids to logins).
        devices = [key for key in simulated if "/" in key]
        assert devices
        assert all(simulated[key][0] == key.replace("/", ".") for key in devices)
        # The ingest, the network collector, five partners' gateways and the devices.
        assert len(runtime) == 1 + 1 + 5 + len(devices)

        # Use every secret the way a partner or an operator would, and a few wrong ones.
        over_tls = Session("127.0.0.1", tls_port, B, rotated, ca_file=data / "tls" / "ca.crt")
        assert over_tls.connect() == "Success"
        over_tls.publish(f"mainport/{B}/heat-crabbehof-01/telemetry", b'{"metrics": {"kw": 1}}')
        over_tls.close()
        stale = Session("127.0.0.1", mqtt_port, B, first)
        assert stale.connect() == "Not authorized"
        stale.close()
        plain = Session("127.0.0.1", mqtt_port, f"{A}.gw-1", gateway)
        assert plain.connect() == "Success"
        plain.close()
        token_id = partner.split("_", 2)[1]
        wrong_secret = f"mp_{token_id}_{uuid.uuid4().hex}"  # a real id, a made-up secret
        for token, expected in ((operator, 200), (partner, 200), (wrong_secret, 401)):
            assert (
                httpx.get(f"{api}/api/v1/partners", headers=bearer(token)).status_code == expected
            )
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(60) == 0

    secrets = {
        "first partner password": first,
        "rotated partner password": rotated,
        "gateway password": gateway,
        "operator token": operator,
        "partner token": partner,
        "operator token secret": operator.split("_", 2)[2],
        "partner token secret": partner.split("_", 2)[2],
        "wrong token secret": wrong_secret.split("_", 2)[2],
        **{f"run-time password {i}": value for i, value in enumerate(runtime)},
    }
    scanned = [*_files(tmp_path), *_repo_files()]
    found = [
        (name, str(path))
        for path in scanned
        for name, value in secrets.items()
        if value.encode() in path.read_bytes()
    ]
    assert found == []

    # InfluxDB's passwords must be kept in plaintext (it needs them to log in): in one 0600
    # file only, never in a log, InfluxDB's own files or the repository.
    logins_file = data / "secrets" / "influxdb-logins.json"
    influx_passwords = [u["password"] for u in json.loads(logins_file.read_text()).values()]
    assert len(set(influx_passwords)) == 4
    holders = {
        str(path)
        for path in scanned
        for value in influx_passwords
        if value.encode() in path.read_bytes()
    }
    assert holders == {str(logins_file)}

    # The scan saw what matters: the broker's, the API's and the ingest's logs, and the hashes.
    names = {p.name for p in scanned}
    assert {
        "mosquitto.log",
        "influxd.log",
        "api.log",
        "ingest.log",
        "mainport.db",  # the control-plane database: logins' and tokens' hashes
    } <= names
    accounts = {a.username: a for a in AccountStore(control_engine(data)).load()}
    salted = accounts[B].password_hash.split("$")[3]
    assert accounts[B].password_hash == hash_password(rotated, salt=base64.b64decode(salted))
    assert not any(a.runtime for a in accounts.values())  # run-time logins end with the run
    for private in (
        *(data / "secrets").glob("*.json"),
        data / "mainport.db",
        data / "tls" / "ca.key",
        data / "tls" / "server.key",
    ):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
