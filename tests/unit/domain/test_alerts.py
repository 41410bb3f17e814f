"""domain/alerts.py: conditions from the SPEC's definitions, root cause, suppression, hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.alerts import (
    Evaluation,
    LiveState,
    Open,
    Unknown,
    counted_since,
    evaluate_partner,
    partner_unknown,
    step,
)
from domain.registry import Device, MaintenanceWindow, Partner, Port, Registry
from domain.uptime import datetime_ns

S = 1_000_000_000
T0 = datetime_ns(datetime(2026, 12, 1, tzinfo=UTC))
PORT = Port(switch="sw", port="p1", capacity_mbps=1000, interval_s=10)
PARTNER = Partner(
    id="acme",
    name="Acme",
    ports=(PORT, Port(switch="sw", port="p2", capacity_mbps=1000, interval_s=10)),
    devices=(
        *(Device(id=f"d{i}", interval_s=10, port="p1") for i in range(5)),
        Device(id="solo", interval_s=10, port="p2"),
    ),
)


def run(
    devices: dict[str, LiveState],
    ports: dict[str, LiveState],
    now: int,
    *,
    alive: int | None = None,
    unknown: list[Unknown] | None = None,
) -> Evaluation:
    out = Evaluation()
    evaluate_partner(
        PARTNER, devices, ports, unknown=unknown or [], now_ns=now,
        alive_ns=now if alive is None else alive, grace_factor=3, out=out,
    )  # fmt: skip
    return out


def up(last: int) -> LiveState:
    return LiveState(first_ns=T0, last_ns=last)


def test_a_silent_device_fires_at_m_plus_t_once_the_platform_was_receiving_after_it() -> None:
    devices = {"solo": up(T0 + 10 * S)}
    ports = {"sw/p2": up(T0 + 45 * S)}
    found = run(devices, ports, T0 + 45 * S)
    (cond,) = found.conditions.values()
    assert (cond.key, cond.cause, cond.since_ns) == ("device:acme/solo", "timeout", T0 + 40 * S)
    # a dead ingest proves nothing: the deadline has not been seen pass
    assert run(devices, ports, T0 + 45 * S, alive=T0 + 39 * S).conditions == {}


def test_an_offline_event_fires_at_its_own_time() -> None:
    devices = {"solo": LiveState(T0, T0 + 10 * S, held_since_ns=T0 + 12 * S)}
    found = run(devices, {"sw/p2": up(T0 + 13 * S)}, T0 + 13 * S, alive=0)
    assert [(c.cause, c.since_ns) for c in found.conditions.values()] == [("offline", T0 + 12 * S)]


def test_five_devices_behind_a_down_port_are_one_link_alert_naming_every_one() -> None:
    devices = {f"d{i}": up(T0 + 9 * S) for i in range(5)}
    port = LiveState(T0, T0 + 10 * S, held_since_ns=T0 + 10 * S)  # a `down` sample
    for now in (T0 + 11 * S, T0 + 60 * S):  # before and after the devices' own deadlines
        found = run(devices, {"sw/p1": port}, now)
        (cond,) = found.conditions.values()
        assert cond.kind == "link" and cond.key == "link:acme/sw/p1"
        assert cond.devices == ("d0", "d1", "d2", "d3", "d4")


def test_a_device_timeout_waits_for_its_port_so_a_later_link_alert_takes_it_in() -> None:
    devices = {f"d{i}": up(T0) for i in range(5)}
    ports = {"sw/p1": up(T0 + 5 * S)}  # the port's next sample is due by T0 + 35 s
    waiting = run(devices, ports, T0 + 31 * S)
    assert waiting.conditions == {} and len(waiting.waiting) == 5
    # the port's deadline passed too: it went silent at T0+35 s, after the devices: SPEC says
    # their incidents are timeouts of their own, and so say the alerts
    later = run(devices, ports, T0 + 36 * S)
    assert {c.kind for c in later.conditions.values()} == {"device", "link"}
    # the port reported `down` before the devices' deadlines: one link alert
    down = {"sw/p1": LiveState(T0, T0 + 6 * S, held_since_ns=T0 + 6 * S)}
    (cond,) = run(devices, down, T0 + 31 * S).conditions.values()
    assert cond.kind == "link" and len(cond.devices) == 5


def test_nothing_fires_in_a_maintenance_window_and_it_fires_at_its_end_if_still_down() -> None:
    window = MaintenanceWindow(
        partner="acme", start=datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
        end=datetime(2026, 12, 1, 0, 10, tzinfo=UTC),
    )  # fmt: skip
    unknown = partner_unknown(Registry(partners=(PARTNER,), maintenance=(window,)), "acme", [])
    devices = {"solo": up(T0 + 30 * S)}  # down from T0 + 60 s, inside the window
    ports = {"sw/p2": up(T0 + 595 * S)}
    inside = run(devices, ports, T0 + 300 * S, unknown=unknown)
    assert inside.conditions == {}
    assert inside.suppressed["device:acme/solo"].reason == "maintenance"
    after = run(devices, {"sw/p2": up(T0 + 605 * S)}, T0 + 610 * S, unknown=unknown)
    assert after.conditions["device:acme/solo"].since_ns == T0 + 600 * S


def test_counted_since_takes_unknown_time_out() -> None:
    gap = [Unknown(10, 20, "platform")]
    assert counted_since(5, gap, 15) == (None, "platform")
    assert counted_since(12, gap, 30) == (20, None)
    assert counted_since(25, gap, 30) == (25, None)


def test_a_flapping_device_pages_once_and_resolves_once_it_stays_up() -> None:
    clear = 60 * S
    open_alerts: dict[str, Open] = {}
    fired = resolved = 0
    now = T0 + 100 * S
    # 5 flaps: 10 s down (offline event), 10 s up
    for i in range(5):
        for down, dt in ((True, 0), (False, 10)):
            t = now + (20 * i + dt) * S
            state = LiveState(T0, t - S, held_since_ns=t if down else None)
            if not down:
                state = LiveState(T0, t)
            found = run({"solo": state}, {"sw/p2": up(t)}, t + S)
            for change in step(open_alerts, found, t + S, clear):
                fired += change.action == "fire"
                resolved += change.action == "resolve"
                if change.action == "resolve":
                    del open_alerts[change.alert.key]
                else:
                    open_alerts[change.alert.key] = change.alert
    assert (fired, resolved) == (1, 0)
    end = now + 100 * S
    for t in (end, end + 30 * S, end + 61 * S):
        found = run({"solo": LiveState(T0, t)}, {"sw/p2": up(t)}, t)
        for change in step(open_alerts, found, t, clear):
            resolved += change.action == "resolve"
            if change.action == "resolve":
                del open_alerts[change.alert.key]
            else:
                open_alerts[change.alert.key] = change.alert
    assert resolved == 1 and open_alerts == {}


def test_a_suppressed_record_fires_when_the_window_ends_and_never_notifies_if_it_recovers() -> None:
    devices = {"solo": up(T0)}
    sup = run(devices, {"sw/p2": up(T0 + 50 * S)}, T0 + 50 * S,
              unknown=[Unknown(T0, T0 + 100 * S, "maintenance")])  # fmt: skip
    (change,) = step({}, sup, T0 + 50 * S, 0)
    assert change.action == "suppress"
    opened = {change.alert.key: change.alert}
    fire = run(devices, {"sw/p2": up(T0 + 101 * S)}, T0 + 101 * S,
               unknown=[Unknown(T0, T0 + 100 * S, "maintenance")])  # fmt: skip
    (again,) = step(opened, fire, T0 + 101 * S, 0)
    assert again.action == "unsuppress" and again.alert.id == change.alert.id
    gone = step(opened, Evaluation(), T0 + 60 * S, 0)
    assert [c.action for c in gone] == ["resolve"]
