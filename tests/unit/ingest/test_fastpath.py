"""ingest.points' fast path for telemetry gives exactly what domain.lineprotocol.line gives,
for every message parse_message can produce (the fast path relies on its guarantees)."""

from __future__ import annotations

import time

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.lineprotocol import line
from domain.messages import Telemetry, TelemetryBatch, parse_message
from ingest.points import message_lines, telemetry_line

NOW = time.time_ns()
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,20}", fullmatch=True)
values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53))
devices = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True)
partners = st.from_regex(r"[a-z0-9][a-z0-9-]{1,31}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(partners, devices, st.dictionaries(names, values, min_size=1, max_size=8))
def test_fast_telemetry_line_equals_the_general_one(
    partner: str, device: str, metrics: dict[str, float]
) -> None:
    payload = orjson.dumps({"ts": NOW // 1_000_000, "metrics": metrics})
    msg = parse_message(f"mainport/{partner}/{device}/telemetry", payload, NOW)
    if not isinstance(msg, Telemetry):
        return  # rejected (e.g. a reserved name); the general path is used for those
    tags = {"partner": partner, "device": device}
    assert telemetry_line(msg) == line("telemetry", tags, msg.metrics, msg.ts_ns)
    usage = message_lines(msg, "t", payload, NOW, {})[1]
    assert usage == line(
        "messages", {**tags, "type": "telemetry"}, {"bytes": len(payload)}, msg.ts_ns
    )


def test_a_senml_pack_at_several_times_is_one_point_per_time_and_one_usage_point() -> None:
    t = NOW / 1e9
    pack = [{"bn": "x", "bt": t, "n": "a", "v": 1}, {"n": "a", "t": 1, "v": 2}]
    payload = orjson.dumps(pack)

    msg = parse_message("mainport/woonbron/dev-1/telemetry", payload, NOW)

    assert isinstance(msg, TelemetryBatch)
    lines = message_lines(msg, "t", payload, NOW, {})
    assert [ln.split(" ")[0] for ln in lines] == [
        "telemetry,device=dev-1,partner=woonbron",
        "telemetry,device=dev-1,partner=woonbron",
        "messages,device=dev-1,partner=woonbron,type=telemetry",
    ]
