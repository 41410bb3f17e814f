"""The v1 client and line protocol against a real influxd."""

from __future__ import annotations

import time

import pytest

from domain.lineprotocol import line
from timeseries.client import InfluxClient, StoreRejected
from timeseries.schema import RAW_RP, ensure_schema

# Within the 400-day retention policy, or InfluxDB drops the point.
RECENT_NS = (time.time_ns() // 10**9 - 3600) * 10**9

AWKWARD = [
    "plain",
    "with space",
    "comma,inside",
    "equals=sign",
    'double"quote',
    "back\\slash in middle",
    "ünïcödé — Dordrecht ✓",
    "'; DROP DATABASE mainport; --",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_awkward_tag_field_key_and_string_round_trip_exactly(
    influx_db: InfluxClient, text: str
) -> None:
    influx_db.write(line("probe", {"tag": text}, {text: 1.5, "note": text}, RECENT_NS).encode())
    series = influx_db.query(
        'SELECT * FROM "probe" WHERE "tag" = $tag GROUP BY "tag"', {"tag": text}
    )[0]
    assert len(series) == 1
    assert series[0].tags == {"tag": text}
    record = series[0].records()[0]
    assert record[text] == 1.5
    assert record["note"] == text


def test_bound_parameters_cannot_break_out_of_the_query(influx_db: InfluxClient) -> None:
    influx_db.write(line("probe", {"partner": "a"}, {"v": 1.0}, RECENT_NS).encode())
    hostile = "a' OR \"partner\" =~ /.*/ OR 'x'='x"
    result = influx_db.query('SELECT * FROM "probe" WHERE "partner" = $p', {"p": hostile})
    assert result == [[]]


def test_schema_is_idempotent_and_raw_is_the_default_policy(influx_db: InfluxClient) -> None:
    ensure_schema(influx_db, "400d")
    ensure_schema(influx_db, "400d")
    rps = influx_db.query(f'SHOW RETENTION POLICIES ON "{influx_db.db}"', epoch=None)[0][0]
    defaults = [r["name"] for r in rps.records() if r["default"]]
    assert defaults == [RAW_RP]
    assert next(r for r in rps.records() if r["name"] == RAW_RP)["duration"] == "9600h0m0s"


def test_a_bad_point_is_refused_as_not_retryable(influx_db: InfluxClient) -> None:
    with pytest.raises(StoreRejected) as refused:
        influx_db.write(b"probe value=notanumber 1")
    assert refused.value.status == 400
    assert not refused.value.retryable


def test_a_repeated_write_stores_a_point_once(influx_db: InfluxClient) -> None:
    body = line("probe", {"device": "d1"}, {"v": 2.0}, RECENT_NS).encode()
    influx_db.write(body)
    influx_db.write(body)
    count = influx_db.query('SELECT count("v") FROM "probe"')[0][0].values[0][1]
    assert count == 1
