"""Bad input never stops the ingest: the bad message is dead-lettered, its neighbours stored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from core.processes import Child, free_port
from tests.conftest import wait_for
from tests.integration.conftest import Broker, stack_env
from tests.integration.ingest.ingest_harness import (
    BASE_MS,
    PARTNER,
    metric,
    publish_as,
    seq_stats,
    wait_stored,
)
from timeseries.client import InfluxClient


def test_one_bad_message_between_good_ones_is_dead_lettered_with_its_reason(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = stack_env(broker, influx_db, tmp_path, MAINPORT_INGEST_METRICS_PORT=str(metrics_port))
    spawn("ingest", ["ingest"], env)
    wait_for(lambda: metric(metrics_port, "mainport_ingest_broker_connected") == 1)

    topic = f"mainport/{PARTNER}/load-000/telemetry"
    bad = b'{"metrics": {"seq": "high"}}'
    messages = [
        (topic, orjson.dumps({"ts": BASE_MS, "metrics": {"seq": 0}})),
        (topic, bad),
        (topic, orjson.dumps({"ts": BASE_MS + 1, "metrics": {"seq": 1}})),
    ]
    publish_as(broker, messages)

    wait_stored(influx_db, 2)
    rejected = influx_db.query(
        'SELECT "topic", "excerpt", "detail", "bytes", "reason" FROM "rejected" '
        'WHERE "partner" = $p',
        {"p": PARTNER},
    )[0]
    assert len(rejected) == 1 and len(rejected[0].values) == 1
    letter = rejected[0].records()[0]
    assert letter["reason"] == "non_numeric_value"
    assert (letter["topic"], letter["excerpt"], letter["bytes"]) == (topic, bad.decode(), len(bad))
    label = f'mainport_ingest_rejected_total{{partner="{PARTNER}",reason="non_numeric_value"}}'
    assert metric(metrics_port, label) == 1

    # The operator's view, from InfluxDB and from the local file (InfluxDB down).
    cli = [sys.executable, "-m", "mainport", "dead-letters", "--partner", PARTNER, "--json"]
    from_store = subprocess.run(cli, env=env, capture_output=True, text=True, check=True)
    shown = [json.loads(row) for row in from_store.stdout.splitlines()]
    assert [(s["reason"], s["topic"], s["excerpt"]) for s in shown] == [
        ("non_numeric_value", topic, bad.decode())
    ]
    offline = {**env, "MAINPORT_INFLUX_URL": f"http://127.0.0.1:{free_port()}"}
    wait_for(lambda: any(tmp_path.joinpath("dead-letters").glob("*.jsonl")))
    from_file = subprocess.run(cli, env=offline, capture_output=True, text=True, check=True)
    assert "showing local files" in from_file.stderr
    assert [json.loads(row)["reason"] for row in from_file.stdout.splitlines()] == [
        "non_numeric_value"
    ]
    counts = subprocess.run(
        [sys.executable, "-m", "mainport", "dead-letters", "--counts"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert counts.stdout.splitlines() == [
        "partner\treason\tcount",
        f"{PARTNER}\tnon_numeric_value\t1",
    ]


def test_a_point_influxdb_refuses_is_dead_lettered_and_its_batch_neighbours_stored(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    # `level` already exists as a string in this shard: a float `level` is a type conflict.
    influx_db.write(
        f'telemetry,device=other,partner={PARTNER} level="high" {BASE_MS}000000'.encode()
    )
    metrics_port = free_port()
    env = stack_env(broker, influx_db, tmp_path, MAINPORT_INGEST_METRICS_PORT=str(metrics_port))
    spawn("ingest", ["ingest"], env)
    wait_for(lambda: metric(metrics_port, "mainport_ingest_broker_connected") == 1)
    topic = f"mainport/{PARTNER}/load-000/telemetry"
    good = [(topic, orjson.dumps({"ts": BASE_MS + i, "metrics": {"seq": i}})) for i in range(3)]
    clash = (topic, orjson.dumps({"ts": BASE_MS + 10, "metrics": {"seq": 3, "level": 2.5}}))

    publish_as(broker, [good[0], clash, good[1], good[2]])

    def refused() -> list[dict[str, object]]:
        series = influx_db.query(
            'SELECT "excerpt", "detail", "partner" FROM "rejected" WHERE "reason" = $r',
            {"r": "store_refused"},
        )[0]
        return series[0].records() if series else []

    wait_for(lambda: len(refused()) == 1, what="the refused point's dead letter")
    # seq 0, 1, 2 (the neighbours) stored; seq 3 was refused, but its usage point was not.
    wait_for(lambda: seq_stats(influx_db) == (3, 0 + 1 + 2, 4), what="the neighbours stored")
    [letter] = refused()
    assert str(letter["excerpt"]).startswith("telemetry,device=load-000,partner=woonbron ")
    assert "level=2.5" in str(letter["excerpt"]) and "conflict" in str(letter["detail"])
    assert letter["partner"] == PARTNER
    assert metric(metrics_port, "mainport_ingest_points_dead_total") == 1


def test_partner_bytes_reach_the_operators_terminal_escaped_and_the_files_stay_private(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    """A partner's payload with terminal escapes (retitle, clear, 8-bit CSI, bidi override)
    is shown escaped by `mainport dead-letters`, from InfluxDB and from the local file, and
    the local file is the ingest user's only (0600 in a 0700 directory)."""
    metrics_port = free_port()
    env = stack_env(broker, influx_db, tmp_path, MAINPORT_INGEST_METRICS_PORT=str(metrics_port))
    spawn("ingest", ["ingest"], env)
    wait_for(lambda: metric(metrics_port, "mainport_ingest_broker_connected") == 1)
    hostile = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\r\n{".encode()
    publish_as(broker, [(f"mainport/{PARTNER}/load-000/telemetry", hostile)])
    wait_for(lambda: any(tmp_path.joinpath("dead-letters").glob("*.jsonl")))
    wait_for(lambda: influx_db.query('SELECT count("bytes") FROM "rejected"')[0] != [])

    offline = {**env, "MAINPORT_INFLUX_URL": f"http://127.0.0.1:{free_port()}"}
    for where in (env, offline):
        for extra in ([], ["--json"]):
            shown = subprocess.run(
                [sys.executable, "-m", "mainport", "dead-letters", *extra],
                env=where,
                capture_output=True,
                check=True,
            ).stdout.decode()
            body = shown.replace("\t", "").replace("\n", "")
            assert not [c for c in body if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F], shown
            assert "\u202e" not in body
            assert "\\x1b" in shown or "\\u001b" in shown  # shown, as an escape

    directory = tmp_path / "dead-letters"
    assert directory.stat().st_mode & 0o777 == 0o700
    for path in directory.glob("*.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o600
