"""Parser throughput on the ingest hot path, against the floor of any JSON parser.

Prints messages/s of `parse_message` + `message_lines` per payload kind beside `orjson.loads`
on the same bytes (the baseline, measured in the same run), and the ratio. Not a test.
Run: .venv/bin/python bench/parse.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from domain.messages import parse_message
from ingest.points import message_lines

NOW_NS = time.time_ns()
T = NOW_NS / 1e9
CASES: dict[str, tuple[str, bytes]] = {
    "json telemetry, 5 metrics, ts": (
        "mainport/woonbron/heat-1/telemetry",
        orjson.dumps({"ts": T, "metrics": {"a": 1.5, "b": 2, "c": 3.25, "d": 4, "e": 5.5}}),
    ),
    "senml pack, 5 records": (
        "mainport/woonbron/heat-1/telemetry",
        orjson.dumps(
            [{"bn": "urn:dev:heat-1:", "bt": T, "n": "a", "v": 1.5}]
            + [{"n": n, "v": 2.0} for n in "bcde"]
        ),
    ),
    "counters": (
        "mainport/_network/dmd-core-1/xe-0-0-1/counters",
        orjson.dumps({"ts": T, "in_octets": 123456789, "out_octets": 987654, "oper_status": "up"}),
    ),
    "rejected (non-numeric)": (
        "mainport/woonbron/heat-1/telemetry",
        orjson.dumps({"ts": T, "metrics": {"a": "high"}}),
    ),
}


def rate(fn: Callable[[], object], seconds: float = 0.5) -> float:
    n, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(1000):
            fn()
        n += 1000
    return n / elapsed


def main() -> None:
    owners = {("dmd-core-1", "xe-0-0-1"): "gemeente-dordrecht"}
    partners = {"woonbron", "gemeente-dordrecht"}
    print(f"{'payload':32} {'parse+lines msg/s':>18} {'orjson.loads/s':>15} {'ratio':>6}")
    for name, (topic, payload) in CASES.items():

        def full(topic: str = topic, payload: bytes = payload) -> object:
            msg = parse_message(topic, payload, NOW_NS, known_partners=partners)
            return message_lines(msg, topic, payload, NOW_NS, owners)

        def floor(payload: bytes = payload) -> object:
            return orjson.loads(payload)

        ours = rate(full)
        baseline = rate(floor)
        print(f"{name:32} {ours:18,.0f} {baseline:15,.0f} {ours / baseline:6.2f}")


if __name__ == "__main__":
    main()
