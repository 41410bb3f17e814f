"""Budgets per partner: how much of the shared ingest and InfluxDB one partner may take.

Why: InfluxDB 1.x keeps every series and every (series, field) key in its in-memory index, and
a new metric name or device id costs it for good. With a valid login, a partner grew the shared
InfluxDB from 76 MB to 616 MB with 400 messages of 256 new metric names each, and 2,000 unlisted
device ids (auto-registered, SPEC) grew the series count 50x; past InfluxDB's series limit it
refuses new series for every partner. The ingest is where every message passes before
InfluxDB, so it holds each partner to three budgets, checked in this order:

1. rate — messages and payload bytes per second, each a token bucket holding `burst_s`
   seconds of the rate. The ingest is one shared subscriber: it cannot slow one partner down
   without stalling all (the broker hands it everyone's messages on one connection), so past
   the burst a message is refused (`rate_limited`), not queued. Messages the parser rejected
   count too (their dead letters are points as well). A flood would otherwise write itself
   into InfluxDB as dead letters, so only the first refused message per partner and second
   is kept as one; the others are counted (its detail says how many).
2. devices — a device id not in the registry is auto-registered while the partner has fewer
   than `auto_devices` of them; past that its messages are refused (`too_many_devices`).
   Listed and already known devices are always accepted.
3. metric names — each device may use at most `metrics_per_device` distinct names, and all
   of a partner's devices together at most `metric_names` (the field keys of the shared
   `telemetry` measurement are the union over every partner). Names a device already has are
   always accepted; new names past a budget are refused (`too_many_metric_names`), while the
   rest of the same message is stored ("valid data beside it is kept"): one noisy firmware
   update then costs the new fields, not the device's readings.

Together these bound what one partner can add to InfluxDB's index: at most
(listed + auto_devices) devices, each with at most metrics_per_device field keys, drawn from
at most metric_names names.

Several ingest replicas share the subscription, and each keeps its own budgets (no shared
state on the hot path). The broker spreads every partner's messages evenly over them, so each
takes 1/N of the rate budget (Settings `ingest_replicas`) and the sum holds. Devices and names
are counted by each replica on its own: normal traffic reaches every replica with the same
devices, but a flood of new ids can get up to N times those budgets past (each replica admits
its own first ones); a restart brings each replica to the union InfluxDB holds.

Pure: no I/O and no clock (the caller passes the time). One `Budgets` per ingest process, used
from its MQTT thread only; `check` is on the hot path and costs a few dict look-ups when
nothing is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from domain.messages import MAX_PAYLOAD_BYTES, Rejected, Status, Telemetry, TelemetryBatch
from domain.registry import Budgets as OwnBudgets
from domain.registry import Registry

RATE_LIMITED = "rate_limited"
TOO_MANY_DEVICES = "too_many_devices"
TOO_MANY_METRIC_NAMES = "too_many_metric_names"
REASONS = frozenset((RATE_LIMITED, TOO_MANY_DEVICES, TOO_MANY_METRIC_NAMES))
"""Every reason a budget refuses with (dead-letter reason, Prometheus label value)."""

LETTER_EVERY_NS = 1_000_000_000
"""A rate-limited partner leaves at most one dead letter per this interval."""

Checked = Telemetry | TelemetryBatch | Status
T = TypeVar("T")
_MAX_DETAIL = 200


@dataclass(frozen=True, slots=True)
class Limits:
    """One partner's budgets, resolved (`resolve`: its own where set, else the defaults)."""

    metrics_per_device: int
    metric_names: int
    auto_devices: int
    messages_per_s: float
    bytes_per_s: float
    burst_s: float

    def resolve(self, own: OwnBudgets) -> Limits:
        """These limits as defaults, overridden by a partner's `budgets:` in the registry."""
        return Limits(
            metrics_per_device=_pick(own.metrics_per_device, self.metrics_per_device),
            metric_names=_pick(own.metric_names, self.metric_names),
            auto_devices=_pick(own.auto_devices, self.auto_devices),
            messages_per_s=_pick(own.messages_per_s, self.messages_per_s),
            bytes_per_s=_pick(own.bytes_per_s, self.bytes_per_s),
            burst_s=self.burst_s,
        )

    def shared(self, replicas: int) -> Limits:
        """One of `replicas` ingests' part: the broker hands each about 1/replicas of every
        partner's messages (shared subscription, round robin), so each holds it to that part
        of the rate. Devices and names cannot be split that way (see the module docstring)."""
        return replace(
            self,
            messages_per_s=self.messages_per_s / replicas,
            bytes_per_s=self.bytes_per_s / replicas,
        )


DEFAULT_LIMITS = Limits(
    metrics_per_device=256,  # a valid message carries up to 256 (domain/messages.py)
    metric_names=1024,
    auto_devices=100,
    messages_per_s=500.0,
    bytes_per_s=1024**2,
    burst_s=60.0,
)
"""Where no real partner gets near: the registry's devices report every 30-300 s with a
handful of metrics each. Settings `ingest_budget_*` and the registry override them."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a budget refused of one message."""

    reason: str
    kept: Checked | None
    """What may still be stored (known metrics beside refused new names), or None."""
    rejected: Rejected | None
    """The dead letter to keep; None when it is only counted (a rate-limited flood)."""


class _Partner:
    """One partner's budget state. Plain attributes: `check` reads them on every message."""

    __slots__ = (
        "auto",
        "byte_cap",
        "byte_per_ns",
        "byte_tokens",
        "devices",
        "last_ns",
        "letter_ns",
        "limits",
        "listed",
        "msg_cap",
        "msg_per_ns",
        "msg_tokens",
        "names",
        "unlettered",
    )

    def __init__(self, limits: Limits, listed: Iterable[str]) -> None:
        self.limits = limits
        self.listed = frozenset(listed)
        self.devices: dict[str, set[str]] = {}
        """Devices seen (listed or auto-registered) → the metric names each has used."""
        self.names: set[str] = set()
        """Every metric name any of the partner's devices has used."""
        self.auto = 0
        self.msg_per_ns = limits.messages_per_s / 1e9
        self.byte_per_ns = limits.bytes_per_s / 1e9
        self.msg_cap = self.msg_tokens = max(1.0, limits.messages_per_s * limits.burst_s)
        # Room for the largest message SPEC allows, however small a replica's share.
        byte_cap = max(float(MAX_PAYLOAD_BYTES), limits.bytes_per_s * limits.burst_s)
        self.byte_cap = self.byte_tokens = byte_cap
        self.last_ns = 0
        self.letter_ns = -LETTER_EVERY_NS
        self.unlettered = 0

    def relimit(self, limits: Limits) -> None:
        """New limits, the tokens in hand kept (capped to the new burst)."""
        self.limits = limits
        self.msg_per_ns = limits.messages_per_s / 1e9
        self.byte_per_ns = limits.bytes_per_s / 1e9
        self.msg_cap = max(1.0, limits.messages_per_s * limits.burst_s)
        self.byte_cap = max(float(MAX_PAYLOAD_BYTES), limits.bytes_per_s * limits.burst_s)
        self.msg_tokens = min(self.msg_tokens, self.msg_cap)
        self.byte_tokens = min(self.byte_tokens, self.byte_cap)

    def take(self, size: int, now_ns: int) -> bool:
        """Charge one message of `size` bytes to both buckets; False (nothing charged) when
        either lacks room."""
        elapsed = now_ns - self.last_ns
        if elapsed > 0:  # a clock step back refills nothing, and takes nothing either
            tokens = self.msg_tokens + elapsed * self.msg_per_ns
            self.msg_tokens = tokens if tokens < self.msg_cap else self.msg_cap
            tokens = self.byte_tokens + elapsed * self.byte_per_ns
            self.byte_tokens = tokens if tokens < self.byte_cap else self.byte_cap
            self.last_ns = now_ns
        if self.msg_tokens < 1.0 or self.byte_tokens < size:
            return False
        self.msg_tokens -= 1.0
        self.byte_tokens -= size
        return True


class Budgets:
    """Every partner's budgets and what it has used of them."""

    def __init__(self, limits: Mapping[str, Limits], listed: Mapping[str, Iterable[str]]) -> None:
        """`limits` per partner id (a partner without is not budgeted: the network's
        counters); `listed`: the devices the registry lists per partner."""
        self._partners = {pid: _Partner(lim, listed.get(pid, ())) for pid, lim in limits.items()}

    @classmethod
    def from_registry(cls, registry: Registry, defaults: Limits, replicas: int = 1) -> Budgets:
        """Every registered partner's budgets, for one of `replicas` ingests."""
        return cls(
            {p.id: defaults.resolve(p.budgets).shared(replicas) for p in registry.partners},
            {p.id: [d.id for d in p.devices] for p in registry.partners},
        )

    def follow(self, registry: Registry, defaults: Limits, replicas: int = 1) -> None:
        """Take a changed registry (a live change): new partners get budgets, listed devices
        and a partner's own budgets follow; what each partner has used is kept (a change must
        not hand a budget out again). A retired partner keeps its state, unused: the parser
        rejects its messages before any budget (unknown_partner)."""
        for p in registry.partners:
            limits = defaults.resolve(p.budgets).shared(replicas)
            listed = [d.id for d in p.devices]
            state = self._partners.get(p.id)
            if state is None:
                self._partners[p.id] = _Partner(limits, listed)
                continue
            new_listed = frozenset(listed)
            if new_listed != state.listed:
                # A listed device is free of the auto budget; one delisted starts to count.
                now_auto = sum(1 for d in state.devices if d not in new_listed)
                state.listed, state.auto = new_listed, now_auto
            if limits != state.limits:
                state.relimit(limits)

    def seed(self, partner: str, device: str, names: Iterable[str] = ()) -> None:
        """Record what InfluxDB already holds (at start-up), so a restart resets no count.

        Known devices and names stay accepted even beyond the budget: they cost nothing new.
        """
        state = self._partners.get(partner)
        if state is None:
            return
        known = state.devices.get(device)
        if known is None:
            known = state.devices[device] = set()
            if device not in state.listed:
                state.auto += 1
        known.update(names)
        state.names.update(known)

    def limits(self, partner: str) -> Limits | None:
        state = self._partners.get(partner)
        return None if state is None else state.limits

    def auto_devices(self) -> dict[str, int]:
        """Auto-registered devices per partner (for the ingest's metrics)."""
        return {pid: state.auto for pid, state in self._partners.items()}

    def check(self, msg: Checked, size: int, now_ns: int) -> Refusal | None:
        """None when the message is within every budget (and charge it); else what is refused.

        `size` is the payload's length in bytes; `now_ns` the time it was received.
        """
        state = self._partners.get(msg.partner)
        if state is None:
            return None
        # _Partner.take, inlined: this runs for every message.
        elapsed = now_ns - state.last_ns
        if elapsed > 0:
            tokens = state.msg_tokens + elapsed * state.msg_per_ns
            state.msg_tokens = tokens if tokens < state.msg_cap else state.msg_cap
            tokens = state.byte_tokens + elapsed * state.byte_per_ns
            state.byte_tokens = tokens if tokens < state.byte_cap else state.byte_cap
            state.last_ns = now_ns
        if state.msg_tokens < 1.0 or state.byte_tokens < size:
            return _rate_limited(state, msg, now_ns)
        state.msg_tokens -= 1.0
        state.byte_tokens -= size
        known = state.devices.get(msg.device)
        if known is None:
            known = _admit_device(state, msg.device)
            if known is None:
                return _too_many_devices(state, msg)
        if type(msg) is Telemetry:
            if known.issuperset(msg.metrics):
                return None
            return _new_names(state, known, msg, list(msg.metrics))
        if type(msg) is TelemetryBatch:
            names = [name for item in msg.items for name in item.metrics]
            if known.issuperset(names):
                return None
            return _new_names(state, known, msg, list(dict.fromkeys(names)))
        return None

    def check_rejected(self, msg: Rejected, size: int, now_ns: int) -> Refusal | None:
        """The rate budget for a message the parser rejected: its dead letter is a point in
        InfluxDB too, so a flood of bad messages is held to the same rate as good ones."""
        state = self._partners.get(msg.partner)
        if state is None or state.take(size, now_ns):
            return None
        return _rate_limited(state, msg, now_ns)


def _admit_device(state: _Partner, device: str) -> set[str] | None:
    if device not in state.listed:
        if state.auto >= state.limits.auto_devices:
            return None
        state.auto += 1
    known = state.devices[device] = set()
    return known


def _rate_limited(state: _Partner, msg: Checked | Rejected, now_ns: int) -> Refusal:
    if now_ns - state.letter_ns < LETTER_EVERY_NS:
        state.unlettered += 1
        return Refusal(RATE_LIMITED, None, None)
    counted, state.unlettered, state.letter_ns = state.unlettered, 0, now_ns
    limits = state.limits
    detail = (
        f"over {msg.partner}'s budget of {limits.messages_per_s:g} messages/s and "
        f"{limits.bytes_per_s:g} bytes/s (burst {limits.burst_s:g} s); {counted} more "
        "refused since the previous such dead letter were counted, not kept"
    )
    return Refusal(RATE_LIMITED, None, Rejected(msg.partner, RATE_LIMITED, detail, _ts(msg)))


def _too_many_devices(state: _Partner, msg: Checked) -> Refusal:
    detail = (
        f"device {msg.device!r} is not in the registry and {msg.partner} already has "
        f"{state.auto} auto-registered devices, its budget: list the device, or raise "
        "budgets.auto_devices"
    )
    return Refusal(TOO_MANY_DEVICES, None, Rejected(msg.partner, TOO_MANY_DEVICES, detail[:200]))


def _new_names(state: _Partner, known: set[str], msg: Checked, names: list[str]) -> Refusal | None:
    """Admit the message's new names, in message order, while the device's budget and (for a
    name none of the partner's devices has used) the partner's last."""
    limits = state.limits
    device_room = limits.metrics_per_device - len(known)
    partner_room = limits.metric_names - len(state.names)
    refused: list[str] = []
    for name in names:
        if name in known:
            continue
        shared = name in state.names
        if device_room > 0 and (shared or partner_room > 0):
            known.add(name)
            device_room -= 1
            if not shared:
                state.names.add(name)
                partner_room -= 1
        else:
            refused.append(name)
    if not refused:
        return None
    budget = (
        f"device {msg.device!r} has its budget of {limits.metrics_per_device} metric names"
        if device_room <= 0
        else f"{msg.partner} has its budget of {limits.metric_names} metric names"
    )
    shown = ", ".join(refused[:5]) + (", …" if len(refused) > 5 else "")
    detail = f"{budget}: {len(refused)} new refused ({shown})"
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    rejected = Rejected(msg.partner, TOO_MANY_METRIC_NAMES, detail, _ts(msg))
    return Refusal(TOO_MANY_METRIC_NAMES, _without(msg, set(refused)), rejected)


def _without(msg: Checked, refused: set[str]) -> Checked | None:
    """The message with the refused metric names taken out; None when nothing is left."""
    if isinstance(msg, Telemetry):
        return _telemetry_without(msg, refused)
    if isinstance(msg, TelemetryBatch):
        items = tuple(i for t in msg.items if (i := _telemetry_without(t, refused)) is not None)
        return replace(msg, items=items) if items else None
    return msg


def _telemetry_without(msg: Telemetry, refused: set[str]) -> Telemetry | None:
    metrics = {k: v for k, v in msg.metrics.items() if k not in refused}
    if not metrics:
        return None
    units = {k: v for k, v in msg.units.items() if k not in refused}
    return replace(msg, metrics=metrics, units=units)


def _ts(msg: Checked | Rejected) -> int | None:
    return msg.items[0].ts_ns if isinstance(msg, TelemetryBatch) else msg.ts_ns


def _pick(own: T | None, default: T) -> T:
    return default if own is None else own
