"""domain.messages: every rejection reason, one at a time, with the partner and detail it gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.messages import (
    MAX_PAYLOAD_BYTES,
    REASONS,
    Counters,
    Status,
    Telemetry,
)
from domain.payload_checks import MAX_METRICS
from tests.unit.domain.messages_support import (
    COUNTERS,
    NOW,
    NOW_S,
    STATUS,
    TELEMETRY,
    parse,
    rejected,
    telemetry,
)

# --- counters ------------------------------------------------------------------------------------


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


# --- one reason at a time -------------------------------------------------------------------


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


def test_a_collector_report_without_a_boolean_reachable_is_bad_collector() -> None:
    rejected("mainport/_network/core-1/_collector", {"reachable": 1}, "bad_collector")
