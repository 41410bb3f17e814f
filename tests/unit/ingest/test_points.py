"""ingest.points: the line-protocol points a parsed message becomes (timeseries/schema.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.messages import (
    Counters,
    Rejected,
    Status,
    Telemetry,
    TelemetryBatch,
    parse_message,
)
from domain.timestamps import parse_rfc3339
from ingest.points import EXCERPT_BYTES, counters_line, dead_letter, message_lines
from timeseries.integers import as_uint64

TS = 1_795_000_000_000_000_000
RECEIVED = TS + 5_000_000_000
TELEMETRY_TOPIC = "mainport/woonbron/heat-1/telemetry"
OWNERS = {("dmd-dist-2", "ge-0-0-7"): "woonbron"}


def lines_of(
    msg: Telemetry | TelemetryBatch | Status | Counters | Rejected, payload: bytes
) -> list[str]:
    return message_lines(msg, TELEMETRY_TOPIC, payload, RECEIVED, OWNERS)


def telemetry(ts: int = TS, **metrics: float) -> Telemetry:
    return Telemetry("woonbron", "heat-1", ts, dict(metrics), {}, True)


def counters(in_octets: int, out_octets: int = 0, *, port: str = "ge-0-0-7") -> Counters:
    return Counters("dmd-dist-2", port, TS, in_octets, out_octets, True, True)


def field_value(point: str, name: str) -> str:
    """The raw text of one field of a point without string fields."""
    fields = dict(kv.split("=", 1) for kv in point.split(" ")[1].split(","))
    return fields[name]


# --- telemetry ---------------------------------------------------------------------------


def test_telemetry_is_a_telemetry_point_and_a_messages_point() -> None:
    payload = b'{"metrics":{"power_kw":5.25,"energy_kwh":1200.0}}'

    points = lines_of(telemetry(power_kw=5.25, energy_kwh=1200.0), payload)

    assert points == [
        f"telemetry,device=heat-1,partner=woonbron power_kw=5.25,energy_kwh=1200.0 {TS}",
        f"messages,device=heat-1,partner=woonbron,type=telemetry bytes={len(payload)}i {TS}",
    ]


def test_telemetry_batch_is_one_point_per_time_and_one_messages_point_at_the_first() -> None:
    later, earlier = telemetry(TS + 60, v=2.0), telemetry(TS, v=1.0)
    batch = TelemetryBatch("woonbron", "heat-1", (earlier, later))
    payload = b"[senml pack]"

    points = lines_of(batch, payload)

    assert points == [
        f"telemetry,device=heat-1,partner=woonbron v=1.0 {TS}",
        f"telemetry,device=heat-1,partner=woonbron v=2.0 {TS + 60}",
        f"messages,device=heat-1,partner=woonbron,type=telemetry bytes=12i {TS}",
    ]


def test_empty_telemetry_batch_writes_nothing() -> None:
    assert lines_of(TelemetryBatch("woonbron", "heat-1", ()), b"[]") == []


# --- status ------------------------------------------------------------------------------


def test_online_status_is_online_1_and_a_status_message() -> None:
    msg = Status("woonbron", "heat-1", TS, online=True, ts_from_device=False)

    points = lines_of(msg, b"online")

    assert points == [
        f"status,device=heat-1,partner=woonbron online=1i {TS}",
        f"messages,device=heat-1,partner=woonbron,type=status bytes=6i {TS}",
    ]


def test_offline_status_is_online_0() -> None:
    msg = Status("woonbron", "heat-1", TS, online=False, ts_from_device=False)

    points = lines_of(msg, b"offline")

    assert points[0] == f"status,device=heat-1,partner=woonbron online=0i {TS}"
    assert points[1].startswith("messages,device=heat-1,partner=woonbron,type=status bytes=7i")


# --- counters ----------------------------------------------------------------------------


def test_counters_are_tagged_with_the_partner_owning_the_port() -> None:
    points = lines_of(counters(1000, 2000), b"{}")

    assert points == [
        "counters,partner=woonbron,port=ge-0-0-7,switch=dmd-dist-2 "
        f"in_octets=1000i,out_octets=2000i,up=1i {TS}"
    ]


def test_counters_of_a_port_nobody_owns_are_kept_without_a_partner_tag() -> None:
    points = lines_of(counters(1, 2, port="xe-9-9-9"), b"{}")

    assert points == [
        f"counters,port=xe-9-9-9,switch=dmd-dist-2 in_octets=1i,out_octets=2i,up=1i {TS}"
    ]


def test_down_port_is_up_0() -> None:
    msg = Counters("dmd-dist-2", "ge-0-0-7", TS, 5, 6, False, True)

    assert field_value(counters_line(msg, "woonbron"), "up") == "0i"


def test_counters_of_2_pow_63_and_above_are_stored_wrapped_negative() -> None:
    point = counters_line(counters(2**63, 2**64 - 1), "woonbron")

    assert field_value(point, "in_octets") == f"{-(2**63)}i"
    assert field_value(point, "out_octets") == "-1i"


def test_counters_below_2_pow_63_are_stored_as_is() -> None:
    point = counters_line(counters(2**63 - 1, 0), "woonbron")

    assert field_value(point, "in_octets") == f"{2**63 - 1}i"
    assert field_value(point, "out_octets") == "0i"


def test_as_uint64_restores_wrapped_values() -> None:
    assert as_uint64(-1) == 2**64 - 1
    assert as_uint64(-(2**63)) == 2**63
    assert as_uint64(0) == 0
    assert as_uint64(2**63 - 1) == 2**63 - 1


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_every_uint64_counter_survives_storage(value: int) -> None:
    stored = int(field_value(counters_line(counters(value), "p"), "in_octets").removesuffix("i"))

    assert -(2**63) <= stored < 2**63
    assert as_uint64(stored) == value


# --- rejected ----------------------------------------------------------------------------


def test_rejection_is_a_rejected_point_with_reason_topic_excerpt_and_size() -> None:
    msg = Rejected("woonbron", "malformed_json", "not usable JSON: unexpected character")
    payload = b'{"metrics": oops}'

    points = lines_of(msg, payload)

    assert points == [
        "rejected,partner=woonbron,reason=malformed_json "
        f'topic="{TELEMETRY_TOPIC}",excerpt="{{\\"metrics\\": oops}}",'
        f'detail="not usable JSON: unexpected character",bytes={len(payload)}i {RECEIVED}'
    ]


def test_rejection_is_stamped_with_the_receive_time() -> None:
    point = lines_of(Rejected("_unknown", "bad_topic", "x"), b"")[0]

    assert point.endswith(f" {RECEIVED}")


def test_rejection_excerpt_is_the_first_200_bytes() -> None:
    payload = b"a" * EXCERPT_BYTES + b"b" * 300

    point = lines_of(Rejected("woonbron", "payload_too_large", "big"), payload)[0]

    assert EXCERPT_BYTES == 200
    assert f',excerpt="{"a" * 200}",' in point
    assert point.endswith(f"bytes=500i {RECEIVED}")


def test_rejection_excerpt_cut_inside_a_character_stays_valid_text() -> None:
    payload = b"x" + "é".encode() * 150  # byte 200 is the first half of an é

    point = lines_of(Rejected("woonbron", "bad_shape", "d"), payload)[0]

    assert f'excerpt="x{"é" * 99}\ufffd"' in point


def test_rejection_of_binary_payload_stays_one_line() -> None:
    payload = bytes(range(256))

    point = lines_of(Rejected("woonbron", "malformed_json", 'say "no"\n'), payload)[0]

    assert "\n" not in point
    assert 'detail="say \\"no\\" "' in point


def test_long_topic_is_cut_to_300_characters() -> None:
    topic = "mainport/" + "x" * 1000

    point = message_lines(Rejected("_unknown", "bad_topic", "d"), topic, b"", RECEIVED, {})[0]

    assert f'topic="{topic[:300]}"' in point


def test_a_rejected_message_is_counted_at_its_own_valid_timestamp() -> None:
    """SPEC usage: rejected messages count at the message's timestamp, so a replay of last
    week lands in last week; an unreadable or refused ts leaves only the time of receipt."""
    now = parse_rfc3339("2026-11-23T12:00:00Z")
    ts = parse_rfc3339("2026-11-16T08:00:00Z")
    topic = "mainport/woonbron/heat-1/telemetry"
    bad_value = b'{"ts": "2026-11-16T08:00:00Z", "metrics": {"kwh": "high"}}'
    msg = parse_message(topic, bad_value, now)
    assert isinstance(msg, Rejected) and msg.ts_ns == ts
    letter = dead_letter(msg, topic, bad_value, now)
    assert ts <= letter.time_ns < ts + 1_000_000
    assert dead_letter(msg, topic, bad_value, now + 5) == letter  # a redelivery: same point
    other = b'{"ts": "2026-11-16T08:00:00Z", "metrics": {"kwh": "low"}}'
    other_msg = parse_message(topic, other, now)
    assert isinstance(other_msg, Rejected)
    assert dead_letter(other_msg, topic, other, now).time_ns != letter.time_ns
    for payload in (
        b'{"ts": "yesterday", "metrics": {"kwh": 1}}',
        b'{"ts": "2024-01-01T00:00:00Z", "metrics": {"kwh": 1}}',
        b'{"metrics": {"kwh": "high"}}',
        b"not json",
    ):
        rejected = parse_message(topic, payload, now)
        assert isinstance(rejected, Rejected) and rejected.ts_ns is None, payload
        assert dead_letter(rejected, topic, payload, now).time_ns == now
