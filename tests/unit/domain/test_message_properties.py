"""domain.messages, properties over arbitrary topics and bytes: parse_message never raises, and what
it accepts keeps every invariant; valid telemetry round-trips."""

from __future__ import annotations

import math

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.messages import (
    REASONS,
    Counters,
    Message,
    Rejected,
    Status,
    Telemetry,
    TelemetryBatch,
    parse_message,
)
from domain.payload_checks import MAX_METRICS
from domain.registry import SLUG_RE
from tests.unit.domain.messages_support import (
    COUNTERS,
    NOW,
    NOW_S,
    STATUS,
    TELEMETRY,
    S,
    parse,
    telemetry,
)

VALID_TOPICS = [TELEMETRY, STATUS, COUNTERS]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
ts_values = json_scalars | st.sampled_from(
    ["2026-11-20T11:00:00Z", NOW_S, NOW_S * 1000, NOW_S + 0.5]
)
metric_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}", fullmatch=True).filter(
    lambda n: n.lower() not in ("time", "partner", "device")
)
senml_records = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.text(max_size=6) | metric_names,
        "bt": ts_values,
        "bu": st.text(max_size=4),
        "bv": json_scalars,
        "n": metric_names | st.text(max_size=4),
        "u": st.text(max_size=4),
        "v": json_scalars,
        "vb": json_scalars,
        "t": st.integers(-1000, 1000) | json_scalars,
    },
)
# Mostly-valid documents of each kind, so the properties also reach the accepting paths.
numbers = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
good_ts = st.integers(NOW_S - 3600, NOW_S + 60) | st.sampled_from(["2026-11-20T11:00:00.5Z"])
near_valid = (
    st.fixed_dictionaries(
        {"metrics": st.dictionaries(metric_names, numbers | json_scalars, min_size=1, max_size=5)},
        optional={"ts": good_ts | ts_values},
    )
    | st.fixed_dictionaries(
        {"in_octets": u64, "out_octets": u64 | json_scalars, "oper_status": st.just("up")},
        optional={"ts": good_ts | ts_values},
    )
    | st.fixed_dictionaries(
        {"state": st.sampled_from(["online", "offline", "Online"])}, optional={"ts": good_ts}
    )
    | st.lists(
        st.fixed_dictionaries(
            {"n": metric_names, "v": numbers},
            optional={
                "bt": st.integers(NOW_S - 60, NOW_S),
                "t": st.integers(-60, 0),
                "u": st.text(),
            },
        ),
        min_size=1,
        max_size=5,
    )
)
documents = (
    json_values
    | near_valid
    | st.lists(senml_records, max_size=5)
    | st.fixed_dictionaries(
        {},
        optional={
            "ts": ts_values,
            "metrics": st.dictionaries(
                metric_names | st.text(max_size=4), json_scalars, max_size=5
            ),
            "state": st.sampled_from(["online", "offline", "OFFLINE"]) | json_scalars,
            "in_octets": json_scalars,
            "out_octets": u64,
            "oper_status": st.sampled_from(["up", "down"]) | json_scalars,
        },
    )
)
segments = st.sampled_from(
    ["mainport", "_network", "gemeente-dordrecht", "aq-001", "telemetry", "status", "counters", ""]
) | st.text(max_size=5)
topics = (
    st.text()
    | st.lists(segments, min_size=1, max_size=6).map("/".join)
    | st.sampled_from(VALID_TOPICS)
)
payloads = st.binary(max_size=200) | documents.map(orjson.dumps)


def check_invariants(result: Message) -> None:
    assert isinstance(result, Telemetry | TelemetryBatch | Status | Counters | Rejected)
    if isinstance(result, Rejected):
        assert result.reason in REASONS
        assert result.partner in ("_unknown", "_network") or SLUG_RE.fullmatch(result.partner)
        assert 0 < len(result.detail) <= 200
        result.detail.encode("utf-8")
        return
    items = result.items if isinstance(result, TelemetryBatch) else (result,)
    if isinstance(result, TelemetryBatch):
        times = [item.ts_ns for item in result.items]
        assert len(times) >= 2 and times == sorted(set(times))
    for item in items:
        if isinstance(item, Telemetry):
            assert 1 <= len(item.metrics) <= MAX_METRICS
            assert all(type(v) is float and math.isfinite(v) for v in item.metrics.values())


@settings(max_examples=500, deadline=None)
@given(topic=topics, payload=payloads)
def test_any_topic_and_any_bytes_never_raise(topic: str, payload: bytes) -> None:
    check_invariants(parse_message(topic, payload, NOW))


@settings(max_examples=500, deadline=None)
@given(topic=st.sampled_from(VALID_TOPICS), payload=documents.map(orjson.dumps))
def test_any_json_on_a_valid_topic_never_raises(topic: str, payload: bytes) -> None:
    check_invariants(parse_message(topic, payload, NOW, known_partners={"gemeente-dordrecht"}))


@given(
    st.dictionaries(
        metric_names,
        st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
        min_size=1,
        max_size=MAX_METRICS,
    )
)
def test_valid_json_telemetry_round_trips_its_metrics(metrics: dict[str, float]) -> None:
    assert telemetry({"metrics": metrics}).metrics == metrics


@given(
    st.dictionaries(
        metric_names,
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(-3600, 0)
        ),
        min_size=1,
        max_size=20,
    )
)
def test_valid_senml_round_trips_its_values_and_times(
    records: dict[str, tuple[float, int]],
) -> None:
    pack = [{"bt": NOW_S, "n": n, "v": v, "t": t} for n, (v, t) in records.items()]
    result = parse(TELEMETRY, pack)
    items = result.items if isinstance(result, TelemetryBatch) else (result,)
    got = {
        n: (v, (i.ts_ns - NOW) // S)
        for i in items
        if isinstance(i, Telemetry)
        for n, v in i.metrics.items()
    }
    assert got == records
