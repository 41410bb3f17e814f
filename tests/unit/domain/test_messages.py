"""domain.messages: every accepted payload form — JSON telemetry, SenML, status, counters (the
rejections: test_message_rejections.py; properties: test_message_properties.py)."""

from __future__ import annotations

import pytest

from domain.messages import (
    Counters,
    Status,
    Telemetry,
    TelemetryBatch,
    is_alert_topic,
)
from tests.unit.domain.messages_support import (
    COUNTERS,
    NOW,
    NOW_S,
    STATUS,
    TELEMETRY,
    S,
    parse,
    rejected,
    telemetry,
)

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
    ("topic", "expected"),
    [
        ("mainport/woonbron/_alerts", True),
        ("mainport/woonbron/_alerts/x", False),
        ("mainport/woonbron/dev/_alerts", False),
        ("mainportx/woonbron/_alerts", False),
        ("other/woonbron/_alerts", False),
        ("mainport/woonbron/dev/telemetry", False),
    ],
)
def test_only_a_partners_own_alert_topic_is_passed_by(topic: str, expected: bool) -> None:
    assert is_alert_topic(topic, "mainport") is expected
