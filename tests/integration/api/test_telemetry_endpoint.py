"""GET /api/v1/partners/{id}/devices/{device}/telemetry: raw points, means per bucket, the
default window, the point limit and what 422 says — against a real API and InfluxDB, with
values computed by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from domain.registry import Registry
from domain.timestamps import format_rfc3339
from tests.integration.access_common import A, C, Site, api_site
from tests.integration.conftest import Influx

DEVICE = "aq-merwekade"
HOUR_NS = 3600 * 10**9
# An hour boundary two days ago: points 10 min apart, with pm25 = 1..6 and no2 on some.
T0 = (time.time_ns() // HOUR_NS - 48) * HOUR_NS
MIN = 60 * 10**9


def _at(minutes: int) -> str:
    return format_rfc3339(T0 + minutes * MIN)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, influxd: Influx, registry: Registry
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("telemetry")
    with api_site(root, influxd.url, registry, MAINPORT_API_MAX_POINTS="5") as running:
        lines = [
            f"telemetry,partner={A},device={DEVICE} pm25={i + 1}.0 {T0 + i * 10 * MIN}"
            for i in range(6)
        ]
        lines += [
            f"telemetry,partner={A},device={DEVICE} no2=40.0 {T0 + 70 * MIN}",
            f"telemetry,partner={C},device={DEVICE} pm25=99.0 {T0 + 5 * MIN}",
            f"telemetry,partner={A},device={DEVICE} pm25=0.5 {time.time_ns() - 10 * MIN}",
        ]
        running.influx.write("\n".join(lines).encode())
        yield running


def _get(site: Site, **params: str) -> httpx.Response:
    return site.get(f"/api/v1/partners/{A}/devices/{DEVICE}/telemetry", A, **params)


def test_raw_points_in_the_window_oldest_first(site: Site) -> None:
    answer = _get(site, metric="pm25", start=_at(0), end=_at(30))
    assert answer.status_code == 200
    assert answer.json() == {
        "partner": A,
        "device": DEVICE,
        "metric": "pm25",
        "start": _at(0),
        "end": _at(30),
        "every": None,
        "points": [[_at(0), 1.0], [_at(10), 2.0], [_at(20), 3.0]],  # end excluded
        "truncated": False,
    }


def test_mean_per_bucket_aligned_to_the_epoch(site: Site) -> None:
    answer = _get(site, metric="pm25", start=_at(0), end=_at(60), every="30m")
    assert answer.json()["points"] == [[_at(0), 2.0], [_at(30), 5.0]]  # (1+2+3)/3, (4+5+6)/3
    assert answer.json()["every"] == "30m"


def test_the_default_window_is_the_last_24_hours(site: Site) -> None:
    points = _get(site, metric="pm25").json()["points"]
    assert [v for _, v in points] == [0.5]  # only the recent point; never C's 99.0


def test_more_points_than_the_limit_are_cut_and_flagged(site: Site) -> None:
    body = _get(site, metric="pm25", start=_at(0), end=_at(120)).json()
    assert [v for _, v in body["points"]] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert body["truncated"] is True


def test_another_metric_of_the_same_device(site: Site) -> None:
    body = _get(site, metric="no2", start=_at(0), end=_at(120)).json()
    assert body["points"] == [[_at(70), 40.0]]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "metric"),
        ({"metric": "partner"}, "metric: 1-64 of A-Za-z0-9_.:/-"),
        ({"metric": "pm25", "start": "yesterday"}, "start: expected an RFC 3339 time"),
        ({"metric": "pm25", "end": "2026-11-23T12:00:00"}, "end: RFC 3339 time needs a zone"),
        ({"metric": "pm25", "start": _at(60), "end": _at(0)}, "start: must be before end"),
        ({"metric": "pm25", "every": "1s"}, "every: 1s over this window gives 86400 buckets"),
        ({"metric": "pm25", "every": "5 minutes"}, "every"),
        ({"metric": "pm25", "every": "9999999d"}, "every: at most 3650d"),
    ],
)
def test_bad_parameters_get_422_that_says_what_is_wrong(
    site: Site, params: dict[str, str], says: str
) -> None:
    answer = _get(site, **params)
    assert answer.status_code == 422
    assert says in str(answer.json()["detail"])
