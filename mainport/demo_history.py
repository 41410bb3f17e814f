"""The demo's past: on the first `mainport up --simulate` of a data dir, the last days of the
scenario — its faults included — are backfilled before the network goes live, so that the
overview, the incident timeline, the traffic chart with its p95 and the monthly report have
something to show in the first minute instead of an all-green, empty network.

Why a state file written *before* the backfill, not a marker after it, nor "InfluxDB has data":
the history's start is chosen once and kept in `<data dir>/demo/history.json`. A backfill cut
short (Ctrl-C, a crash) is resumed at the next start from the same start with the same seed, so
the messages it sends again are the same bytes at the same timestamps and InfluxDB overwrites
them (SPEC: a point's key is its device timestamp) — nothing counted twice. Judging by "InfluxDB
holds raw data" alone would call a half-done history complete; a marker written only at the end
would begin a second history at another start, interleaving two counter sequences (bogus resets)
and two sets of samples. The state says `completed` once the backfill exited cleanly; then later
starts go live at once. A data dir with raw data but no state (used without `--simulate`, or by
an older Mainport) is left as it is: we never add an invented past to real history.

The maintenance window. SPEC keeps maintenance windows in the registry, in absolute times, so a
report for a past month never changes; the demo's `config/partners.yaml` cannot hold one "last
night" for every clone. So the history records one window (absolute, chosen with its start)
and every `--simulate` start of this data dir gives the platform a copy of the partners file
with that window added (`<data dir>/demo/partners.yaml`). The partners file itself is untouched,
and `mainport up` without `--simulate` uses it as before.

The history starts on a whole hour; the demo scenario's faults repeat with periods that divide
a day (2 h … 12 h) from the scenario's start, so the window — hour 1 to 2 of the history's last
day — always covers the same part of the story: for `simulators/scenarios/demo.yaml` the
flapping of a water-level sensor and the fibre port dmd-core-1/xe-0-0-2 going down, both kept
out of the SLA figures as unknown time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from timeseries.client import InfluxClient, StoreError
from timeseries.schema import RAW_RP

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DEFAULT_HISTORY_S = 7 * 86_400
MIN_HISTORY_S = 2 * 3600
"""The maintenance window sits in hour 1–2 of the history: shorter would have no room for it."""
HISTORY_BATCH = 10
"""Samples per SenML message in the backfill: the same samples, uptime and traffic as live, in
a tenth of the device messages (so the history's message counts are a tenth of live ones).
Measured on the shared 2-core machine under load: 7 days in 38 s this way, 80 s one by one."""
STATE_FORMAT = "mainport-demo-history"
WINDOW_REASON = "core switch firmware upgrade (demo history)"
_ANY_RAW = (
    f'SELECT * FROM "{RAW_RP}"."messages" LIMIT 1; '  # noqa: S608 - constants only
    f'SELECT * FROM "{RAW_RP}"."counters" LIMIT 1'
)
"""One accepted message or counter sample is enough to call the data dir used."""


class HistoryError(RuntimeError):
    """The history state cannot be read or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """What is (or was) backfilled, in epoch ms; `maintenance` holds (start, end) pairs."""

    start_ms: int
    end_ms: int
    maintenance: tuple[tuple[int, int], ...]
    completed: bool = False

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def new_plan(now_ms: int, length_s: float) -> HistoryPlan:
    """The last `length_s` up to now, begun on a whole hour, with its maintenance window."""
    if length_s < MIN_HISTORY_S:
        raise ValueError(f"a history needs at least {MIN_HISTORY_S // 3600} hours")
    end = now_ms // 1000 * 1000
    start = (end - int(length_s * 1000)) // HOUR_MS * HOUR_MS
    last_day = start + max(0, (end - start) // DAY_MS - 1) * DAY_MS
    window = (last_day + HOUR_MS, last_day + 2 * HOUR_MS)
    return HistoryPlan(start, end, (window,))


def rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def load_plan(path: Path) -> HistoryPlan | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise HistoryError(f"cannot read the demo history state {path}: {exc}") from None
    try:
        if doc["format"] != STATE_FORMAT or doc["version"] != 1:
            raise ValueError("not a demo history state, version 1")
        return HistoryPlan(
            _ms(doc["start"]),
            _ms(doc["end"]),
            tuple((_ms(w["start"]), _ms(w["end"])) for w in doc["maintenance"]),
            bool(doc["completed"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HistoryError(f"{path}: {exc}; remove it to backfill the demo history again") from None


def save_plan(path: Path, plan: HistoryPlan) -> None:
    """Atomically (write, then rename): an interrupted write leaves the old state."""
    doc = {
        "format": STATE_FORMAT,
        "version": 1,
        "start": rfc3339(plan.start_ms),
        "end": rfc3339(plan.end_ms),
        "maintenance": [{"start": rfc3339(a), "end": rfc3339(b)} for a, b in plan.maintenance],
        "completed": plan.completed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def has_raw_data(client: InfluxClient) -> bool:
    """Whether the platform ever stored an accepted message or a counter sample."""
    try:
        results = client.query(_ANY_RAW)
    except StoreError as exc:
        raise HistoryError(f"cannot tell whether InfluxDB holds data: {exc}") from None
    return any(series.values for result in results for series in result)


def partners_with_windows(source: Path, windows: tuple[tuple[int, int], ...], target: Path) -> Path:
    """A copy of the partners file with the history's maintenance windows added (for the
    whole network, `*`). Written on every start, so edits to the partners file still count."""
    doc = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    maintenance = list(doc.get("maintenance") or [])
    maintenance += [
        {"partner": "*", "start": rfc3339(a), "end": rfc3339(b), "reason": WINDOW_REASON}
        for a, b in windows
    ]
    doc["maintenance"] = maintenance
    header = (
        f"# Generated by `mainport up --simulate` from {source}, with the demo history's\n"
        "# maintenance window added; rewritten at every start: edit the original instead.\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return target


@dataclass(frozen=True, slots=True)
class Decision:
    """What this start does about the past, and the one line that says so."""

    plan: HistoryPlan | None
    backfill: bool
    note: str


def decide(
    state_file: Path, length_s: float, now_ms: int, has_data: Callable[[], bool]
) -> Decision:
    """Backfill on a fresh data dir, resume an interrupted backfill, else go live at once.

    Writes the state before any backfill begins (see the module docstring)."""
    plan = load_plan(state_file)
    if plan is not None and plan.completed:
        return Decision(plan, False, f"demo history {_span(plan)} already backfilled; going live")
    if plan is not None:
        plan = replace(plan, end_ms=now_ms // 1000 * 1000)
        save_plan(state_file, plan)
        return Decision(plan, True, f"resuming the interrupted demo history backfill {_span(plan)}")
    if has_data():
        return Decision(None, False, "the data dir already holds data: no demo history added")
    plan = new_plan(now_ms, length_s)
    save_plan(state_file, plan)
    return Decision(plan, True, f"backfilling the demo history {_span(plan)} before going live")


def _span(plan: HistoryPlan) -> str:
    return f"{rfc3339(plan.start_ms)} – {rfc3339(plan.end_ms)}"
