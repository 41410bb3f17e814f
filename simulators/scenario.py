"""Scenario files: which devices and ports to simulate, when, how fast, and what goes wrong.

Validated strictly; an error names the file, the line and the field (the registry's machinery,
`domain.yaml_model`). Checks that need the registry (does that device exist? do two faults of
one device overlap?) run in `simulators.world` and name lines the same way.

Times in a scenario: durations are a number of seconds or text like `90s`, `15m`, `1h30m`,
`2d`; a fault's `at` is such an offset from the scenario's start, or an RFC 3339 time.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from domain.messages import REASONS
from domain.registry import DEVICE_ID_PATTERN
from domain.yaml_model import ConfigFileError, parse_yaml_model

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90.5`, `"90s"`, `"1h30m"`, `"-30d"`; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90, 90s, 15m, 1h30m or 2d")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 90, 90s, 15m, 1h30m or 2d")
    text = value.strip().replace(" ", "")
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    try:
        return sign * float(body)
    except ValueError:
        pass
    parts = _PART_RE.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"{value!r} is not a duration such as 90, 90s, 15m, 1h30m or 2d")
    return sign * sum(float(n) * _UNITS[u] for n, u in parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Positive = Annotated[Duration, Field(gt=0)]


def _offset(value: object) -> float | datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and "T" in value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parse_duration(value)


Offset = Annotated[float | datetime, BeforeValidator(_offset)]


def _start(value: object) -> object:
    if isinstance(value, str) and value != "now":
        if "T" in value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        parse_duration(value)
    return value


Start = Annotated[str | datetime, BeforeValidator(_start)]
"""`now`, an RFC 3339 time, or an offset from now such as `-30d`."""
"""A fault's `at`: seconds after the scenario's start, or an absolute (zoned) time."""

NOT_PRODUCIBLE = {
    "bad_partner_id": "the broker ACL keeps a partner's login under its own topic prefix",
    "unknown_partner": "the broker ACL keeps a partner's login under its own topic prefix",
    "bad_collector": "the SNMP collector's own reports; the simulator publishes no _collector",
}
DEVICE_REASONS = (
    "bad_topic",
    "bad_device_id",
    "payload_too_large",
    "malformed_json",
    "bad_shape",
    "no_metrics",
    "too_many_metrics",
    "bad_metric_name",
    "non_numeric_value",
    "non_finite_value",
    "bad_timestamp",
    "ts_too_old",
    "ts_in_future",
    "bad_status",
    "bad_senml",
)
PORT_REASONS = ("bad_port_id", "bad_counters")
assert set(DEVICE_REASONS) | set(PORT_REASONS) | set(NOT_PRODUCIBLE) == REASONS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Timed(_Strict):
    at: Offset
    every: Positive | None = Field(None, description="Repeat the fault with this period")


class _Span(_Timed):
    for_: Positive = Field(alias="for")

    @model_validator(mode="after")
    def _repeat_after_end(self) -> _Span:
        if self.every is not None and self.every <= self.for_:
            raise ValueError("every must be longer than for (occurrences would overlap)")
        return self


class Offline(_Span):
    """Clean outage: the device publishes `offline` (retained) and disconnects."""

    kind: Literal["offline"]
    device: str


class Disconnect(_Span):
    """Unclean outage: the socket closes without DISCONNECT, so the broker fires the Last Will."""

    kind: Literal["disconnect"]
    device: str


class Silent(_Span):
    """The device stops publishing but keeps its connection (pings go on)."""

    kind: Literal["silent"]
    device: str


class Flapping(_Span):
    """Outages of `down` every `period` for the whole `for`; unclean unless `clean`."""

    kind: Literal["flapping"]
    device: str
    period: Positive
    down: Positive
    clean: bool = False

    @model_validator(mode="after")
    def _fits(self) -> Flapping:
        if self.down >= self.period:
            raise ValueError("down must be shorter than period")
        return self


class PortDown(_Span):
    """The port reports `oper_status: down`, carries no traffic, and its devices fall silent."""

    kind: Literal["port_down"]
    port: str = Field(description="switch/port")


class CounterReset(_Timed):
    """Equipment reboot: the port's counters restart from zero."""

    kind: Literal["counter_reset"]
    port: str = Field(description="switch/port")


class ClockSkew(_Strict):
    """From `at` (for `for`, default to the end) the device's timestamps are off by `skew`."""

    kind: Literal["clock_skew"]
    device: str
    at: Offset
    for_: Positive | None = Field(None, alias="for")
    skew: Duration

    @model_validator(mode="after")
    def _accepted(self) -> ClockSkew:
        # Beyond 10 minutes ahead the ingest rejects (ts_in_future): that is the malformed
        # fault's job; a skewed clock should still be heard.
        if not -30 * 86_400 <= self.skew <= 540:
            raise ValueError("skew must be between -30d and +9m (the ingest accepts up to 10m)")
        if self.skew == 0:
            raise ValueError("skew must not be zero")
        return self


class Duplicates(_Strict):
    """A fraction of telemetry and counters messages is delivered twice."""

    kind: Literal["duplicates"]
    fraction: float = Field(gt=0, le=1)
    targets: tuple[str, ...] = Field(("*",), description="partner/device or switch/port globs")


class Malformed(_Strict):
    """A fraction of messages is replaced by a payload the ingest must reject, cycling reasons."""

    kind: Literal["malformed"]
    fraction: float = Field(gt=0, le=1)
    reasons: tuple[str, ...] | Literal["all"] = "all"
    targets: tuple[str, ...] = Field(("*",), description="partner/device or switch/port globs")

    @model_validator(mode="after")
    def _producible(self) -> Malformed:
        if self.reasons == "all":
            return self
        for reason in self.reasons:
            if reason in NOT_PRODUCIBLE:
                raise ValueError(f"{reason} cannot be produced: {NOT_PRODUCIBLE[reason]}")
            if reason not in REASONS:
                raise ValueError(f"unknown reason {reason!r}; one of {sorted(REASONS)}")
        return self

    @property
    def reason_list(self) -> tuple[str, ...]:
        return DEVICE_REASONS + PORT_REASONS if self.reasons == "all" else self.reasons


Fault = Annotated[
    Offline
    | Disconnect
    | Silent
    | Flapping
    | PortDown
    | CounterReset
    | ClockSkew
    | Duplicates
    | Malformed,
    Field(discriminator="kind"),
]


class Generated(_Strict):
    """`count` extra devices for a partner, ids from a pattern: `meter-{n:04d}` → meter-0001…

    Unlisted devices are accepted by the platform (SPEC: auto-registered, interval 60 s).
    """

    partner: str
    count: int = Field(ge=1, le=100_000)
    id: str = Field(description="Python format pattern with {n} (1-based)")
    kind: str = Field("generic", min_length=1, max_length=64)
    interval_s: int = Field(60, ge=1, le=86_400)
    port: str | None = None

    @model_validator(mode="after")
    def _pattern(self) -> Generated:
        try:
            first, last = self.id.format(n=1), self.id.format(n=self.count)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"id pattern {self.id!r} does not format with n: {exc}") from None
        if self.count > 1 and first == last:
            raise ValueError(f"id pattern {self.id!r} gives the same id for every n")
        for sample in (first, last):
            if not re.fullmatch(DEVICE_ID_PATTERN, sample):
                raise ValueError(f"id pattern {self.id!r} gives {sample!r}, not a device id")
        return self


Speed = float | Literal["max"]


class Scenario(_Strict):
    name: str = "unnamed"
    # Registry to simulate; relative paths resolve against the working directory.
    partners_file: Path | None = None
    partners: list[str] | None = Field(None, description="Only these partners (default: all)")
    devices: tuple[Generated, ...] = ()
    seed: int = Field(1, ge=0, lt=2**63)
    start: Start = Field(
        "now", description="now, an RFC 3339 time, or an offset from now such as -30d"
    )
    duration: Positive | None = None
    speed: Speed = Field(1.0, description="Simulated seconds per real second, or max")
    payload_format: Literal["json", "senml", "mixed"] = "mixed"
    ports: bool = True
    keepalive_s: int = Field(60, ge=5, le=3600)
    faults: tuple[Fault, ...] = ()

    @model_validator(mode="after")
    def _checks(self) -> Scenario:
        if isinstance(self.speed, float | int) and not 0 < self.speed <= 1_000_000:
            raise ValueError("speed must be above 0 (and at most 1e6), or max")
        if isinstance(self.start, datetime) and self.start.tzinfo is None:
            raise ValueError("start needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        return self


class ScenarioError(ConfigFileError):
    pass


class ScenarioFile:
    """A validated scenario with what later checks need to name lines: its source and nodes."""

    def __init__(self, scenario: Scenario, source: str, node: Any) -> None:
        self.scenario = scenario
        self.source = source
        self.node = node


def parse_scenario(text: str, source: str = "scenario.yaml") -> ScenarioFile:
    scenario = parse_yaml_model(text, Scenario, source, ScenarioError)
    return ScenarioFile(scenario, source, yaml.compose(text, Loader=yaml.SafeLoader))


def load_scenario_file(path: Path) -> ScenarioFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_scenario(text, str(path))


def load_scenario(path: Path) -> Scenario:
    return load_scenario_file(path).scenario
