"""domain.uptime: every SPEC uptime rule on hand-computed cases (properties on random feeds:
test_uptime_properties.py).

Cases are written in minutes from a base time, with a 1-minute interval and T = 3 minutes, so
the expected down intervals can be checked by eye.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.intervals import Interval, clip_intervals, merge_intervals, subtract_intervals, total_ns
from domain.registry import MaintenanceWindow
from domain.uptime import (
    datetime_ns,
    incidents,
    partner_uptime_pct,
    timeout_ns,
    unknown_intervals,
)
from tests.unit.domain.uptime_support import (
    M,
    S,
    at,
    device,
    downs,
    every_minute,
    port,
    span,
)

# --- device rules -----------------------------------------------------------------------------


def test_device_reporting_every_interval_is_fully_up() -> None:
    a = device(every_minute(0, 59))
    assert downs(a) == []
    assert a.uptime_pct == 100.0
    assert a.monitored_ns == 60 * M


def test_offline_event_is_down_until_the_next_observation() -> None:
    a = device(every_minute(0, 11) + every_minute(14, 59), offline=[12])
    assert downs(a) == [(12, 14, "offline")]
    assert a.downtime_ns == 2 * M
    assert a.uptime_pct == pytest.approx(100 * (1 - 2 / 60))


def test_offline_event_at_the_same_instant_as_an_observation_is_not_cancelled_by_it() -> None:
    a = device(every_minute(0, 59), offline=[20])
    assert downs(a) == [(20, 21, "offline")]


def test_silence_longer_than_the_timeout_is_down_from_last_observation_plus_timeout() -> None:
    a = device(every_minute(0, 10) + every_minute(20, 59))
    assert downs(a) == [(13, 20, "timeout")]


def test_silence_of_exactly_the_timeout_is_not_down() -> None:
    assert downs(device(every_minute(0, 10) + every_minute(13, 59))) == []


def test_silence_at_the_window_end_is_down() -> None:
    a = device(every_minute(0, 40))
    assert downs(a) == [(43, 60, "timeout")]


def test_offline_inside_a_timeout_gap_is_one_incident_with_the_earlier_cause() -> None:
    assert downs(device(every_minute(0, 10) + every_minute(30, 59), offline=[20])) == [
        (13, 30, "timeout")
    ]
    assert downs(device(every_minute(0, 10) + every_minute(30, 59), offline=[11])) == [
        (11, 30, "offline")
    ]


def test_offline_and_timeout_starting_together_is_an_offline_incident() -> None:
    assert downs(device(every_minute(0, 10) + every_minute(30, 59), offline=[13])) == [
        (13, 30, "offline")
    ]


def test_down_intervals_that_touch_merge_into_one() -> None:
    # Timeout [13, 20), then an offline event at the instant of the observation at 20.
    a = device([*every_minute(0, 10), 20, *every_minute(21, 59)], offline=[20])
    assert downs(a) == [(13, 21, "timeout")]


def test_window_clips_down_time_and_monitored_time() -> None:
    a = device(every_minute(0, 10) + every_minute(20, 59), start=15, end=60)
    assert downs(a) == [(15, 20, "timeout")]
    assert a.monitored_ns == 45 * M


def test_offline_event_before_the_window_keeps_the_device_down_into_it() -> None:
    a = device([-5, *every_minute(5, 59)], offline=[-4], first=-100)
    assert downs(a) == [(0, 5, "offline")]


def test_last_observation_before_the_window_decides_a_timeout_gap_at_its_start() -> None:
    a = device([-10, *every_minute(10, 59)], first=-100)
    assert downs(a) == [(0, 10, "timeout")]
    assert downs(device([-1, *every_minute(1, 59)], first=-100)) == []


def test_device_is_monitored_from_its_first_observation_only() -> None:
    a = device(every_minute(30, 59), offline=[10])
    assert downs(a) == []
    assert a.monitored_ns == 30 * M
    assert a.uptime_pct == 100.0


def test_device_never_observed_has_no_uptime_even_with_offline_events() -> None:
    a = device([], offline=[10])
    assert (a.monitored_ns, a.uptime_pct, downs(a)) == (0, None, [])


def test_device_first_observed_after_the_window_has_no_uptime() -> None:
    assert device([70, 71]).uptime_pct is None


def test_window_end_is_capped_at_now() -> None:
    a = device(every_minute(0, 40), now=at(45))
    assert a.end_ns == at(45)
    assert downs(a) == [(43, 45, "timeout")]
    assert a.monitored_ns == 45 * M
    assert device(every_minute(0, 44), now=at(45)).uptime_pct == 100.0


def test_incident_still_going_on_now_has_no_end() -> None:
    [incident] = incidents("aq-001", device(every_minute(0, 40), now=at(45)))
    assert (incident.start_ns, incident.end_ns, incident.duration_s) == (at(43), None, 120.0)


def test_incident_reaching_a_past_window_end_ends_there() -> None:
    [incident] = incidents("aq-001", device(every_minute(0, 40)))
    assert (incident.subject, incident.end_ns, incident.cause) == ("aq-001", at(60), "timeout")


def test_window_in_the_future_is_empty() -> None:
    a = device(every_minute(0, 59), start=100, end=160, now=at(90))
    assert (a.monitored_ns, a.uptime_pct) == (0, None)


# --- unknown time -----------------------------------------------------------------------------


def test_maintenance_is_neither_up_nor_down() -> None:
    a = device(every_minute(0, 10) + every_minute(30, 59), unknown=[span(12, 25)])
    assert downs(a) == [(25, 30, "timeout")]
    assert a.unknown_ns == 13 * M
    assert a.uptime_pct == pytest.approx(100 * (1 - 5 / 47))


def test_unknown_time_splits_an_incident_in_two() -> None:
    a = device(every_minute(0, 10) + every_minute(30, 59), unknown=[span(15, 20)])
    assert downs(a) == [(13, 15, "timeout"), (20, 30, "timeout")]


def test_cause_of_an_incident_resumed_after_unknown_time_is_read_at_its_new_start() -> None:
    a = device(every_minute(0, 10) + every_minute(30, 59), offline=[17], unknown=[span(15, 20)])
    assert downs(a) == [(13, 15, "timeout"), (20, 30, "offline")]


def test_unknown_time_outside_monitored_time_does_not_count() -> None:
    a = device(every_minute(30, 59), unknown=[span(0, 40)])
    assert (a.monitored_ns, a.unknown_ns) == (30 * M, 10 * M)


def test_window_entirely_unknown_has_no_uptime() -> None:
    assert device(every_minute(0, 30), unknown=[span(-10, 70)]).uptime_pct is None


def test_unknown_intervals_take_maintenance_for_the_partner_and_platform_gaps() -> None:
    def window(partner: str, start: float, end: float) -> MaintenanceWindow:
        return MaintenanceWindow(
            partner=partner,
            start=datetime.fromtimestamp(at(start) / S, UTC),
            end=datetime.fromtimestamp(at(end) / S, UTC),
        )

    maintenance = [window("gemeente-x", 0, 10), window("other", 20, 30), window("*", 40, 45)]
    unknown = unknown_intervals(maintenance, "gemeente-x", platform_gaps=[span(8, 12)])
    assert unknown == [span(0, 12), span(40, 45)]


def test_datetime_ns_is_exact_to_the_microsecond() -> None:
    moment = datetime(2026, 11, 20, 2, 0, 0, 123456, tzinfo=UTC)
    assert datetime_ns(moment) == 1_795_140_000 * S + 123_456_000


# --- links and root causes --------------------------------------------------------------------


def test_port_is_down_from_a_down_sample_until_the_next_up_sample() -> None:
    samples = [(m, not 20 <= m < 30) for m in every_minute(0, 59)]
    assert downs(port(samples)) == [(20, 30, "offline")]


def test_port_is_down_on_silence_beyond_the_timeout() -> None:
    samples = [(m, True) for m in every_minute(0, 10) + every_minute(20, 59)]
    assert downs(port(samples)) == [(13, 20, "timeout")]


def test_port_reporting_down_from_its_first_sample_is_down_not_unmonitored() -> None:
    samples = [(m, m >= 10) for m in every_minute(0, 59)]
    a = port(samples)
    assert downs(a) == [(0, 10, "offline")]
    assert a.monitored_ns == 60 * M


def test_port_down_before_the_window_stays_down_into_it() -> None:
    a = port([(-2, False), *[(m, m >= 5) for m in every_minute(0, 59)]], first=-50)
    assert downs(a) == [(0, 5, "offline")]


def test_device_outage_starting_while_its_port_is_down_has_cause_link() -> None:
    dev = device(every_minute(0, 10) + every_minute(30, 59))
    [incident] = incidents("aq-001", dev, port_down=[span(11, 28)])
    assert incident.cause == "link"


def test_device_outage_starting_before_its_port_went_down_keeps_its_own_cause() -> None:
    dev = device(every_minute(0, 10) + every_minute(30, 59))
    [incident] = incidents("aq-001", dev, port_down=[span(14, 28)])
    assert incident.cause == "timeout"


def test_link_attribution_uses_the_ports_computed_down_intervals() -> None:
    link = port([(m, not 10 <= m < 25) for m in every_minute(0, 59)])
    dev = device(every_minute(0, 10) + every_minute(26, 59), offline=[12])
    assert [i.cause for i in incidents("aq-001", dev, link.down)] == ["link"]


# --- partner aggregation and helpers ----------------------------------------------------------


def test_partner_uptime_is_weighted_by_known_time() -> None:
    full = device(every_minute(0, 10) + every_minute(20, 59))  # 7 of 60 min down
    half = device(every_minute(30, 59))  # 0 of 30 min down
    assert partner_uptime_pct([full, half]) == pytest.approx(100 * (1 - 7 / 90))


def test_partner_without_known_time_has_no_uptime() -> None:
    assert partner_uptime_pct([device([]), device([70])]) is None
    assert partner_uptime_pct([]) is None


def test_timeout_is_three_intervals_by_default() -> None:
    assert timeout_ns(60) == 180 * S
    assert timeout_ns(300, grace_factor=2) == 600 * S


def test_interval_helpers_merge_clip_and_subtract() -> None:
    spans = [span(10, 20), span(0, 5), span(5, 7), span(15, 25), span(30, 30)]
    assert merge_intervals(spans) == [span(0, 7), span(10, 25)]
    assert clip_intervals(spans, at(6), at(12)) == [span(6, 7), span(10, 12)]
    assert subtract_intervals(spans, [span(3, 12), span(20, 21)]) == [
        span(0, 3),
        span(12, 20),
        span(21, 25),
    ]
    assert total_ns(spans) == 22 * M


def test_interval_refuses_to_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="ends"):
        Interval(2, 1)


def test_observations_without_the_last_one_before_the_window_are_refused() -> None:
    with pytest.raises(ValueError, match="last one at or before the window start"):
        device(every_minute(5, 59), first=-100)


def test_observations_are_sorted_when_given_out_of_order() -> None:
    shuffled = [20.0, *every_minute(0, 10), *every_minute(21, 59)][::-1]
    assert downs(device(shuffled)) == [(13, 20, "timeout")]
