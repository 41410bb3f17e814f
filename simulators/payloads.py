"""Bytes on the wire: telemetry (JSON or SenML), status, counters, and malformed payloads.

Every payload is a pure function of its inputs, so the same scenario and seed give the same
bytes. Valid payloads always carry a timestamp (SPEC: without one the ingest stamps the receive
time, which a backfill or replay would get wrong). Timestamp forms vary per device — RFC 3339,
epoch seconds, epoch milliseconds — because real fleets mix them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson

from simulators.models import Metric
from simulators.world import SimDevice, SimPort, TsStyle

_YEARISH_MS = 400 * 86_400_000
SENML_BN = "urn:dev:mainport:{}:"


def rfc3339_ms(t_ms: int) -> str:
    seconds, ms = divmod(t_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def ts_value(t_ms: int, style: TsStyle) -> str | int | float:
    if style == "rfc3339":
        return rfc3339_ms(t_ms)
    if style == "ms":
        return t_ms
    return t_ms / 1000


def telemetry_json(
    t_ms: int, style: TsStyle, metrics: Sequence[Metric], values: Sequence[float]
) -> bytes:
    named = {m.name: v for m, v in zip(metrics, values, strict=True)}
    return orjson.dumps({"ts": ts_value(t_ms, style), "metrics": named})


def telemetry_senml(
    device_id: str, metrics: Sequence[Metric], samples: Sequence[tuple[int, Sequence[float]]]
) -> bytes:
    """A SenML pack (RFC 8428): base name and base time on the first record; records of later
    samples (a backfill batch holds several) carry `t` relative to it."""
    t0 = samples[0][0]
    pack: list[dict[str, object]] = []
    for t_ms, values in samples:
        for metric, value in zip(metrics, values, strict=True):
            rec: dict[str, object] = {}
            if not pack:
                rec["bn"] = SENML_BN.format(device_id)
                rec["bt"] = t0 / 1000
            elif t_ms != t0:
                rec["t"] = (t_ms - t0) / 1000  # not carried forward: every record says it
            rec["n"] = metric.name
            if metric.unit:
                rec["u"] = metric.unit
            rec["v"] = value
            pack.append(rec)
    return orjson.dumps(pack)


def status(online: bool, t_ms: int, style: TsStyle) -> bytes:
    return orjson.dumps({"state": "online" if online else "offline", "ts": ts_value(t_ms, style)})


def counters(t_ms: int, in_octets: int, out_octets: int, up: bool) -> bytes:
    return orjson.dumps(
        {
            "ts": t_ms,
            "in_octets": in_octets,
            "out_octets": out_octets,
            "oper_status": "up" if up else "down",
        }
    )


def malformed_device(
    reason: str, root: str, device: SimDevice, t_ms: int, metric: str
) -> tuple[str, bytes]:
    """(topic, payload) that the ingest rejects with exactly `reason` (tests hold it to that)."""
    base = f"{root}/{device.partner}/{device.id}"
    ts = rfc3339_ms(t_ms)
    topic = f"{base}/telemetry"
    payload: bytes
    if reason == "bad_topic":
        return f"{base}/telemetry/extra", orjson.dumps({"ts": ts, "metrics": {metric: 1.0}})
    if reason == "bad_device_id":
        bad = f"{root}/{device.partner}/-{device.id}/telemetry"
        return bad, orjson.dumps({"ts": ts, "metrics": {metric: 1.0}})
    if reason == "payload_too_large":
        payload = orjson.dumps({"ts": ts, "metrics": {metric: 1.0}, "firmware_dump": "x" * 66_000})
    elif reason == "malformed_json":
        payload = f'{{"ts": "{ts}", "metrics": {{"{metric}": 1.'.encode()
    elif reason == "bad_shape":
        payload = orjson.dumps({"ts": ts, "metrics": [1.0, 2.0]})
    elif reason == "no_metrics":
        payload = orjson.dumps({"ts": ts, "metrics": {}})
    elif reason == "too_many_metrics":
        payload = orjson.dumps({"ts": ts, "metrics": {f"m{i}": float(i) for i in range(300)}})
    elif reason == "bad_metric_name":
        payload = orjson.dumps({"ts": ts, "metrics": {"time": 1.0}})
    elif reason == "non_numeric_value":
        payload = orjson.dumps({"ts": ts, "metrics": {metric: "high"}})
    elif reason == "non_finite_value":
        payload = f'{{"ts": "{ts}", "metrics": {{"{metric}": 1e999}}}}'.encode()
    elif reason == "bad_timestamp":
        payload = orjson.dumps({"ts": "yesterday", "metrics": {metric: 1.0}})
    elif reason == "ts_too_old":
        payload = orjson.dumps({"ts": rfc3339_ms(t_ms - _YEARISH_MS), "metrics": {metric: 1.0}})
    elif reason == "ts_in_future":
        payload = orjson.dumps({"ts": rfc3339_ms(t_ms + _YEARISH_MS), "metrics": {metric: 1.0}})
    elif reason == "bad_status":
        return f"{base}/status", b"maybe"
    elif reason == "bad_senml":
        payload = orjson.dumps([{"bt": t_ms / 1000, "n": metric, "v": 1.0, "vb": True}])
    else:
        raise ValueError(f"no malformed device payload for {reason!r}")
    return topic, payload


def malformed_port(reason: str, root: str, port: SimPort, t_ms: int) -> tuple[str, bytes]:
    topic = f"{root}/_network/{port.switch}/{port.port}/counters"
    if reason == "bad_port_id":
        bad = f"{root}/_network/{port.switch}/{port.port.upper()}_X/counters"
        return bad, counters(t_ms, 1, 1, True)
    if reason == "bad_counters":
        doc = {"ts": t_ms, "in_octets": -1, "out_octets": 1, "oper_status": "up"}
        return topic, orjson.dumps(doc)
    raise ValueError(f"no malformed port payload for {reason!r}")
