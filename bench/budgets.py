"""What the budget check (domain/budgets.py) costs per message on the ingest's hot path.
Prints ns/message and ratios; not a test. Two comparisons, each measured in the same run on
the same messages (bench/ingest.py's traffic):

- the check alone, on the parsed message, beside `parse_message` + `message_lines` (the work
  it sits between, bench/parse.py's "full" path);
- the ingest's whole `Pipeline.handle` (parse, budgets, lines, counts, hand-over to a writer
  that drops them) with every partner budgeted, beside the same with no partner budgeted.

Timed for the message every real partner sends (a known device, known metric names, within
its rate), which is where the ingest spends its time; refusals are the rare path, covered by
the tests. CPU time of the thread, best of several rounds: a busy machine preempts both alike.
Run: .venv/bin/python bench/budgets.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/ingest.py would hide
# the `ingest` package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import orjson

from domain.budgets import DEFAULT_LIMITS, Budgets
from domain.messages import Telemetry, parse_message
from domain.registry import parse_registry
from ingest.points import message_lines
from ingest.service import Pipeline

NOW_NS = time.time_ns()
PARTNERS = [f"bench-{k:02d}" for k in range(10)]
DEVICES = 100
# Never limited: the common path, as for a partner within its rate.
ROOMY = replace(DEFAULT_LIMITS, messages_per_s=1e9, bytes_per_s=1e12)


def messages() -> list[tuple[str, bytes]]:
    """bench/ingest.py's traffic: 10 partners x 100 devices, 4 metrics each."""
    out = []
    for seq in range(len(PARTNERS) * DEVICES):
        partner, device = PARTNERS[seq // DEVICES], f"dev-{seq % DEVICES:03d}"
        metrics = {"temp_c": 20 + seq % 70 / 10, "rh_pct": 40.5, "co2_ppm": 400 + seq, "seq": seq}
        payload = orjson.dumps({"ts": NOW_NS // 1_000_000 - 1000, "metrics": metrics})
        out.append((f"mainport/{partner}/{device}/telemetry", payload))
    return out


class DroppingWriter:
    def submit(self, lines: list[str], token: object | None, *, bounded: bool = True) -> bool:
        return True


def pipeline_ns(raw: list[tuple[str, bytes]], budgeted: bool) -> float:
    rows = ["partners:"]
    rows += [f"  - {{id: {partner}, name: {partner}}}" for partner in PARTNERS]
    registry = parse_registry("\n".join(rows) + "\n")
    budgets = Budgets.from_registry(registry, ROOMY) if budgeted else Budgets({}, {})
    pipeline = Pipeline(registry, "mainport", DroppingWriter(), "bench", None, budgets)  # type: ignore[arg-type]

    def run() -> None:
        for topic, payload in raw:
            pipeline.handle(topic, payload, None)

    run()  # devices and names become known
    return ns_per_call(run, len(raw))


def ns_per_call(fn: Callable[[], object], calls: int, seconds: float = 2.0) -> float:
    """CPU ns per message: best of rounds of `fn` (which runs `calls` messages). CPU time of
    this thread, not wall time: on a shared machine, time spent preempted is not ours."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.thread_time_ns()
        fn()
        best = min(best, (time.thread_time_ns() - started) / calls)
    return best


def main() -> None:
    raw = messages()
    known = set(PARTNERS)
    parsed = [parse_message(t, p, NOW_NS, known_partners=known) for t, p in raw]
    assert all(isinstance(m, Telemetry) for m in parsed)
    sizes = [len(p) for _, p in raw]
    budgets = Budgets(dict.fromkeys(PARTNERS, ROOMY), dict.fromkeys(PARTNERS, ()))
    for msg, size in zip(parsed, sizes, strict=True):  # devices and names become known
        assert isinstance(msg, Telemetry)
        assert budgets.check(msg, size, NOW_NS) is None
    owners: dict[tuple[str, str], str] = {}

    def baseline() -> None:
        for topic, payload in raw:
            msg = parse_message(topic, payload, NOW_NS, known_partners=known)
            message_lines(msg, topic, payload, NOW_NS, owners)

    clock = [NOW_NS]
    steps = [k * 1000 for k in range(len(parsed))]  # each message its own receive time

    def check() -> None:
        start = clock[0]
        for msg, size, step in zip(parsed, sizes, steps, strict=False):
            budgets.check(msg, size, start + step)  # type: ignore[arg-type]
        clock[0] = start + steps[-1] + 1000

    base = ns_per_call(baseline, len(raw))
    ours = ns_per_call(check, len(raw))
    unbudgeted = pipeline_ns(raw, budgeted=False)
    budgeted = pipeline_ns(raw, budgeted=True)
    print(f"{len(raw)} telemetry messages, {len(PARTNERS)} partners, 4 metrics each")
    print(f"parse + line building (baseline) : {base:7.0f} ns/message")
    print(f"budget check                     : {ours:7.0f} ns/message  ratio {ours / base:5.3f}")
    print(f"Pipeline.handle, no budgets      : {unbudgeted:7.0f} ns/message")
    print(
        f"Pipeline.handle, budgets         : {budgeted:7.0f} ns/message  "
        f"ratio {budgeted / unbudgeted:5.3f}"
    )


if __name__ == "__main__":
    main()
