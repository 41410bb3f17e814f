"""domain.messages: every accepted payload form, every rejection reason, and properties over
arbitrary topics and bytes (parse_message must never raise)."""

from __future__ import annotations

import math
from collections.abc import Container
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.messages import (
    MAX_PAYLOAD_BYTES,
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

S = 1_000_000_000
NOW = (20777 * 86_400 + 12 * 3600) * S  # 2026-11-20T12:00:00Z (see test_timestamps)
NOW_S = NOW // S
TELEMETRY = "mainport/gemeente-dordrecht/aq-001/telemetry"
STATUS = "mainport/gemeente-dordrecht/aq-001/status"
COUNTERS = "mainport/_network/dmd-core-1/xe-0-0-1/counters"


def parse(
    topic: str,
    payload: bytes | object,
    *,
    root: str = "mainport",
    known_partners: Container[str] | None = None,
) -> Message:
    """parse_message at a fixed NOW; non-bytes payloads are JSON-encoded first."""
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_message(topic, raw, NOW, root=root, known_partners=known_partners)


def telemetry(payload: bytes | object) -> Telemetry:
    result = parse(TELEMETRY, payload)
    assert isinstance(result, Telemetry), result
    return result


def rejected(
    topic: str,
    payload: bytes | object,
    reason: str,
    *,
    root: str = "mainport",
    known_partners: Container[str] | None = None,
) -> Rejected:
    result = parse(topic, payload, root=root, known_partners=known_partners)
    assert isinstance(result, Rejected), result
    assert result.reason == reason, result
    assert result.reason in REASONS
    return result


# --- telemetry, JSON object form ---------------------------------------------------------


def test_json_telemetry_without_ts_takes_the_receive_time() -> None:
    result = telemetry({"metrics": {"pm25": 12, "no2": 31.5}})
    assert result == Telemetry(
        "gemeente-dordrecht", "aq-001", NOW, {"pm25": 12.0, "no2": 31.5}, {}, False
    )


def test_integer_metrics_become_floats() -> None:
    assert type(telemetry({"metrics": {"count": 3}}).metrics["count"]) is float


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-20T11:59:00Z",
        "2026-11-20T12:59:00+01:00",
        NOW_S - 60,
        float(NOW_S - 60),
        (NOW_S - 60) * 1000,
    ],
)
def test_json_telemetry_ts_in_any_accepted_form(ts: object) -> None:
    result = telemetry({"ts": ts, "metrics": {"pm25": 1}})
    assert result.ts_ns == NOW - 60 * S
    assert result.ts_from_device


def test_json_telemetry_float_seconds_keep_the_fraction() -> None:
    assert telemetry({"ts": NOW_S - 0.25, "metrics": {"a": 1}}).ts_ns == NOW - S // 4


def test_null_ts_means_no_ts() -> None:
    result = telemetry({"ts": None, "metrics": {"a": 1}})
    assert (result.ts_ns, result.ts_from_device) == (NOW, False)


def test_utf8_byte_order_mark_is_ignored() -> None:
    assert telemetry(b'\xef\xbb\xbf{"metrics": {"a": 1}}').metrics == {"a": 1.0}


def test_only_one_byte_order_mark_is_ignored() -> None:
    rejected(TELEMETRY, b"\xef\xbb\xbf" * 20_000 + b"{}", "malformed_json")


def test_extra_top_level_keys_are_ignored() -> None:
    assert telemetry({"metrics": {"a": 1}, "fw": "1.2"}).metrics == {"a": 1.0}


def test_metric_names_may_use_the_senml_alphabet() -> None:
    names = ["pm2.5", "temp/indoor", "urn:x:y", "a-b_c", "A" * 64]
    assert list(telemetry({"metrics": dict.fromkeys(names, 1)}).metrics) == names


# --- telemetry, SenML ----------------------------------------------------------------------


def test_senml_pack_with_base_name_and_base_time() -> None:
    pack = [
        {
            "bn": "urn:dev:mac:0024befffe804ff1:",
            "bt": NOW_S - 30,
            "bu": "Cel",
            "n": "temp",
            "v": 21,
        },
        {"n": "hum", "u": "%RH", "v": 55.5},
    ]
    result = telemetry(pack)
    assert result.ts_ns == NOW - 30 * S
    assert result.ts_from_device
    assert result.metrics == {"temp": 21.0, "hum": 55.5}
    assert result.units == {"temp": "Cel", "hum": "%RH"}


def test_senml_record_without_n_is_named_by_bn() -> None:
    assert telemetry([{"bn": "pm25", "bt": NOW_S, "v": 3}]).metrics == {"pm25": 3.0}


def test_senml_without_times_is_relative_to_receipt() -> None:
    result = telemetry([{"n": "a", "v": 1}])
    assert (result.ts_ns, result.ts_from_device) == (NOW, False)


def test_senml_negative_t_is_seconds_before_receipt() -> None:
    assert telemetry([{"n": "a", "v": 1, "t": -10}]).ts_ns == NOW - 10 * S


def test_senml_vb_booleans_become_one_and_zero() -> None:
    result = telemetry([{"bt": NOW_S, "n": "door", "vb": True}, {"n": "alarm", "vb": False}])
    assert result.metrics == {"door": 1.0, "alarm": 0.0}


def test_senml_base_value_is_added_to_v() -> None:
    assert telemetry([{"bv": 100, "n": "a", "v": 5}, {"n": "b", "v": -1}]).metrics == {
        "a": 105.0,
        "b": 99.0,
    }


def test_senml_base_only_record_carries_forward() -> None:
    result = telemetry([{"bn": "x", "bt": NOW_S - 5}, {"n": "a", "v": 1}])
    assert (result.ts_ns, result.metrics) == (NOW - 5 * S, {"a": 1.0})


def test_senml_records_at_several_times_become_a_batch_in_time_order() -> None:
    pack = [
        {"bt": NOW_S, "n": "a", "v": 1, "t": 0},
        {"n": "a", "v": 2, "t": -120},
        {"n": "b", "v": 3, "t": 0},
    ]
    result = parse(TELEMETRY, pack)
    assert isinstance(result, TelemetryBatch)
    assert (result.partner, result.device) == ("gemeente-dordrecht", "aq-001")
    assert [(i.ts_ns, i.metrics) for i in result.items] == [
        (NOW - 120 * S, {"a": 2.0}),
        (NOW, {"a": 1.0, "b": 3.0}),
    ]


def test_senml_unknown_optional_fields_are_ignored() -> None:
    assert telemetry([{"bver": 10, "n": "a", "v": 1, "ut": 60}]).metrics == {"a": 1.0}


# --- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"online", b"ONLINE", b" Online\n"])
def test_online_plain_text_is_status(payload: bytes) -> None:
    assert parse(STATUS, payload) == Status("gemeente-dordrecht", "aq-001", NOW, True, False)


def test_offline_plain_text_is_status() -> None:
    assert parse(STATUS, b"offline") == Status("gemeente-dordrecht", "aq-001", NOW, False, False)


def test_json_status_with_ts() -> None:
    result = parse(STATUS, {"state": "offline", "ts": "2026-11-20T11:00:00Z"})
    assert result == Status("gemeente-dordrecht", "aq-001", NOW - 3600 * S, False, True)


def test_json_status_state_ignores_case_and_may_be_a_json_string() -> None:
    assert (
        parse(STATUS, {"state": "Online"}) == parse(STATUS, b'"online"') == parse(STATUS, b"online")
    )


# --- counters -------------------------------------------------------------------------------


def test_counters_with_ts() -> None:
    payload = {"ts": NOW_S, "in_octets": 10, "out_octets": 20, "oper_status": "up"}
    assert parse(COUNTERS, payload) == Counters("dmd-core-1", "xe-0-0-1", NOW, 10, 20, True, True)


def test_counters_take_the_full_unsigned_64_bit_range() -> None:
    top = 2**64 - 1
    payload = {"in_octets": top, "out_octets": 0, "oper_status": "down"}
    assert parse(COUNTERS, payload) == Counters("dmd-core-1", "xe-0-0-1", NOW, top, 0, False, False)


@pytest.mark.parametrize(
    "octets", [b"-1", b"18446744073709551616", b"1.0", b"1e3", b"true", b'"5"', b"null"]
)
def test_counters_that_are_not_unsigned_64_bit_are_rejected(octets: bytes) -> None:
    payload = b'{"in_octets": %s, "out_octets": 0, "oper_status": "up"}' % octets
    result = rejected(COUNTERS, payload, "bad_counters")
    assert result.partner == "_network"
    assert result.detail.startswith("in_octets:")


@pytest.mark.parametrize("status", [None, "testing", 1])
def test_counters_without_up_or_down_are_rejected(status: object) -> None:
    rejected(COUNTERS, {"in_octets": 1, "out_octets": 1, "oper_status": status}, "bad_counters")


# --- rejections, one reason at a time --------------------------------------------------------


def test_oversized_payload_is_rejected_before_parsing() -> None:
    result = rejected(TELEMETRY, b"{" * (MAX_PAYLOAD_BYTES + 1), "payload_too_large")
    assert result.partner == "gemeente-dordrecht"


def test_payload_of_exactly_64_kib_is_parsed() -> None:
    filler = b" " * (MAX_PAYLOAD_BYTES - len(b'{"metrics":{"a":1}}'))
    assert telemetry(b'{"metrics":{"a":1}}' + filler).metrics == {"a": 1.0}


@pytest.mark.parametrize(
    ("topic", "partner"),
    [
        ("other/gemeente-dordrecht/aq-001/telemetry", "_unknown"),
        ("mainport/gemeente-dordrecht/aq-001/config", "gemeente-dordrecht"),
        ("mainport/gemeente-dordrecht/aq-001", "gemeente-dordrecht"),
        ("mainport/gemeente-dordrecht/aq-001/telemetry/extra", "gemeente-dordrecht"),
        ("mainport/gemeente-dordrecht/aq-001/telemetry/", "gemeente-dordrecht"),
        ("mainport", "_unknown"),
        ("", "_unknown"),
        ("mainport/_network/dmd-core-1/counters", "_network"),
        ("mainport/_network/dmd-core-1/xe-0-0-1/status", "_network"),
    ],
)
def test_wrong_topic_shape_is_bad_topic(topic: str, partner: str) -> None:
    assert rejected(topic, b"online", "bad_topic").partner == partner


def test_custom_root_is_honoured() -> None:
    topic = "dmd/mp/gemeente-dordrecht/aq-001/status"
    assert isinstance(parse(topic, b"online", root="dmd/mp"), Status)
    rejected(STATUS, b"online", "bad_topic", root="dmd/mp")


@pytest.mark.parametrize("partner", ["Gemeente", "a", "-x", "x" * 33, "gemeente\n", "g+", "g#"])
def test_partner_that_is_not_a_slug_is_bad_partner_id(partner: str) -> None:
    result = rejected(
        f"mainport/{partner}/aq-001/telemetry", {"metrics": {"a": 1}}, "bad_partner_id"
    )
    assert result.partner == "_unknown"


def test_partner_not_registered_is_unknown_partner() -> None:
    result = rejected(STATUS, b"online", "unknown_partner", known_partners={"woonkracht"})
    assert result.partner == "gemeente-dordrecht"
    assert isinstance(parse(STATUS, b"online", known_partners={"gemeente-dordrecht"}), Status)


def test_known_partners_do_not_apply_to_network_topics() -> None:
    payload = {"in_octets": 1, "out_octets": 1, "oper_status": "up"}
    assert isinstance(parse(COUNTERS, payload, known_partners=set()), Counters)


@pytest.mark.parametrize("device", ["", "-a", "a b", "a" * 65, "ä", "a\n"])
def test_device_id_outside_the_alphabet_is_bad_device_id(device: str) -> None:
    rejected(f"mainport/gemeente-dordrecht/{device}/status", b"online", "bad_device_id")


@pytest.mark.parametrize(
    "topic",
    ["mainport/_network/Core/xe-0-0-1/counters", "mainport/_network/dmd-core-1/XE_1/counters"],
)
def test_switch_or_port_that_is_not_a_slug_is_bad_port_id(topic: str) -> None:
    assert rejected(topic, b"{}", "bad_port_id").partner == "_network"


def test_port_with_a_slash_is_a_topic_of_the_wrong_depth() -> None:
    rejected("mainport/_network/dmd-core-1/xe/0/counters", b"{}", "bad_topic")


@pytest.mark.parametrize(
    "payload", [b"", b"{", b"{'metrics': {}}", b"\xff\xfe", b"NaN", b'"\\ud800"']
)
def test_not_json_is_malformed_json(payload: bytes) -> None:
    rejected(TELEMETRY, payload, "malformed_json")


@pytest.mark.parametrize("payload", [b"1", b'"x"', b"null", b'{"metric": {}}', b'{"metrics": [1]}'])
def test_json_of_the_wrong_shape_is_bad_shape(payload: bytes) -> None:
    rejected(TELEMETRY, payload, "bad_shape")


@pytest.mark.parametrize("payload", [{"metrics": {}}, [], [{"bn": "x"}]])
def test_no_values_is_no_metrics(payload: object) -> None:
    rejected(TELEMETRY, payload, "no_metrics")


def test_more_than_max_metrics_is_too_many_metrics() -> None:
    assert len(telemetry({"metrics": {f"m{i}": i for i in range(MAX_METRICS)}}).metrics) == 256
    rejected(
        TELEMETRY, {"metrics": {f"m{i}": i for i in range(MAX_METRICS + 1)}}, "too_many_metrics"
    )
    rejected(
        TELEMETRY, [{"n": f"m{i}", "v": i} for i in range(MAX_METRICS + 1)], "too_many_metrics"
    )


@pytest.mark.parametrize(
    "name",
    [
        "",
        "_x",
        "a b",
        "a,b",
        "a=b",
        'a"',
        "a\n",
        "a" * 65,
        "time",
        "Time",
        "partner",
        "device",
        "µ",
    ],
)
def test_unsafe_metric_name_is_bad_metric_name(name: str) -> None:
    rejected(TELEMETRY, {"metrics": {name: 1}}, "bad_metric_name")
    rejected(TELEMETRY, [{"n": name, "v": 1}], "bad_metric_name")


def test_senml_record_without_any_name_is_bad_metric_name() -> None:
    rejected(TELEMETRY, [{"v": 1}], "bad_metric_name")


def test_string_metric_is_non_numeric_value_with_a_detail_saying_where() -> None:
    result = rejected(TELEMETRY, {"metrics": {"pm25": "12"}}, "non_numeric_value")
    assert result.detail == "metrics.pm25: expected a number, got string"
    assert result.partner == "gemeente-dordrecht"


@pytest.mark.parametrize("value", [None, True, False, [], {}])
def test_non_numbers_and_booleans_are_non_numeric_value(value: object) -> None:
    rejected(TELEMETRY, {"metrics": {"a": value}}, "non_numeric_value")


@pytest.mark.parametrize(
    "record",
    [{"n": "a", "v": "1"}, {"n": "a", "vs": "x"}, {"n": "a", "vd": "aGk"}, {"n": "a", "vb": 1}],
)
def test_senml_non_numeric_values_are_non_numeric_value(record: object) -> None:
    rejected(TELEMETRY, [record], "non_numeric_value")


@pytest.mark.parametrize("payload", [b'{"metrics": {"a": 1e400}}', b'[{"n": "a", "v": -1e999}]'])
def test_numbers_that_overflow_to_infinity_are_non_finite_value(payload: bytes) -> None:
    rejected(TELEMETRY, payload, "non_finite_value")


def test_senml_base_value_overflowing_is_non_finite_value() -> None:
    rejected(TELEMETRY, [{"bv": 1.7e308, "n": "a", "v": 1.7e308}], "non_finite_value")


@pytest.mark.parametrize("ts", ["yesterday", "2026-11-20T12:00:00", True, [], 1e300])
def test_unreadable_ts_is_bad_timestamp(ts: object) -> None:
    rejected(TELEMETRY, {"ts": ts, "metrics": {"a": 1}}, "bad_timestamp")
    rejected(STATUS, {"state": "online", "ts": ts}, "bad_timestamp")
    rejected(
        COUNTERS, {"ts": ts, "in_octets": 1, "out_octets": 1, "oper_status": "up"}, "bad_timestamp"
    )


@pytest.mark.parametrize(
    "record", [{"n": "a", "v": 1, "t": "now"}, {"bt": "2026-11-20T12:00:00Z", "n": "a", "v": 1}]
)
def test_senml_time_that_is_not_a_number_is_bad_timestamp(record: object) -> None:
    rejected(TELEMETRY, [record], "bad_timestamp")


def test_ts_more_than_a_year_old_is_ts_too_old() -> None:
    result = rejected(TELEMETRY, {"ts": "2025-11-20T11:59:59Z", "metrics": {"a": 1}}, "ts_too_old")
    assert "2025-11-20T11:59:59Z" in result.detail
    assert isinstance(
        parse(TELEMETRY, {"ts": NOW_S - 365 * 86_400, "metrics": {"a": 1}}), Telemetry
    )
    rejected(TELEMETRY, [{"n": "a", "v": 1, "t": -366 * 86_400}], "ts_too_old")


def test_ts_more_than_ten_minutes_ahead_is_ts_in_future() -> None:
    rejected(STATUS, {"state": "online", "ts": NOW_S + 601}, "ts_in_future")
    assert isinstance(parse(STATUS, {"state": "online", "ts": NOW_S + 600}), Status)
    rejected(
        TELEMETRY, [{"bt": NOW_S, "n": "a", "v": 1}, {"n": "b", "v": 1, "t": 601}], "ts_in_future"
    )


def test_epoch_in_micro_or_nanoseconds_is_bad_timestamp() -> None:
    # Both are read as milliseconds (SPEC), which puts them beyond what InfluxDB can store.
    rejected(TELEMETRY, {"ts": NOW, "metrics": {"a": 1}}, "bad_timestamp")
    rejected(TELEMETRY, {"ts": NOW // 1000, "metrics": {"a": 1}}, "bad_timestamp")


def test_epoch_milliseconds_an_hour_ahead_is_ts_in_future() -> None:
    rejected(TELEMETRY, {"ts": (NOW_S + 3600) * 1000, "metrics": {"a": 1}}, "ts_in_future")


@pytest.mark.parametrize(
    "payload", [b"up", b"1", b"", b"\xff", {"state": "up"}, {"status": "online"}, {"state": 1}]
)
def test_status_that_is_not_online_or_offline_is_bad_status(payload: bytes | object) -> None:
    rejected(STATUS, payload, "bad_status")


def test_status_json_array_is_bad_shape() -> None:
    rejected(STATUS, b'["online"]', "bad_shape")


@pytest.mark.parametrize(
    "pack",
    [
        [1],
        [{"n": "a"}],
        [{"n": "a", "s": 5}],
        [{"n": "a", "v": 1, "vb": True}],
        [{"n": "a", "v": 1, "foo_": 1}],
        [{"bn": 5, "v": 1}],
        [{"n": "a", "v": 1, "u": ""}],
        [{"n": "a", "v": 1, "bu": "x" * 33}],
        [{"n": "a", "v": 1, "bv": "1"}],
        [{"n": "a", "v": 1}, {"n": "a", "v": 2}],
    ],
)
def test_invalid_senml_is_bad_senml(pack: object) -> None:
    rejected(TELEMETRY, pack, "bad_senml")


def test_every_reason_is_exercised_above() -> None:
    # Keeps REASONS and the tests honest: a new reason needs a test before it ships.
    source = Path(__file__).read_text(encoding="utf-8")
    assert {r for r in REASONS if f'"{r}"' not in source} == set()


def test_details_are_short_and_printable_even_for_hostile_input() -> None:
    result = rejected("mainport/" + "\ud800\x00" * 500 + "/d/status", b"online", "bad_partner_id")
    assert len(result.detail) <= 200
    result.detail.encode("utf-8")
    assert result.detail.isprintable()


# --- properties -----------------------------------------------------------------------------

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
