"""What the budget check (domain/budgets.py) costs per message, beside the parse and line
building it sits between on the ingest's hot path. Prints ns/message and the ratio; not a test.

The baseline, measured in the same run on the same messages: `parse_message` + `message_lines`
(bench/parse.py's "full" path). The budget check is timed on the parsed message, for the
message every real partner sends (a known device, known metric names, within its rate), which
is where the ingest spends its time; refusals are the rare path and are covered by the tests.
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
from ingest.points import message_lines

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


def ns_per_call(fn: Callable[[], object], calls: int, seconds: float = 1.0) -> float:
    """Best of a few rounds, each repeating `fn` (which runs `calls` messages)."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - started) / calls)
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
    print(f"{len(raw)} telemetry messages, {len(PARTNERS)} partners, 4 metrics each")
    print(f"parse + line building (baseline) : {base:7.0f} ns/message")
    print(f"budget check                     : {ours:7.0f} ns/message  ratio {ours / base:5.3f}")


if __name__ == "__main__":
    main()
