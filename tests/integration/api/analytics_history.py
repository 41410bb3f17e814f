"""Two days of one partner's devices and ports, as raw points in line protocol, and every raw
event kept beside them so a test can compute the figures the API should give.

With silences, offline events, a link outage, a counter reset and a glitch, a maintenance window
(config/partners.yaml, 2026-11-20 02:00-03:00) and a platform outage (GAP); shuffled, as a replay
of several feeds would bring them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from domain.lineprotocol import line
from domain.timestamps import NS_PER_S, parse_rfc3339
from timeseries.integers import as_int64

S = NS_PER_S


PARTNER_ID = "gemeente-dordrecht"


BASE = parse_rfc3339("2026-11-19T00:00:00Z")  # covers the maintenance of 2026-11-20 02:00-03:00


END = BASE + 2 * 86_400 * S


GAP = (BASE + 30 * 3600 * S, BASE + 30 * 3600 * S + 40 * 60 * S)  # the platform could not receive


DEVICES = {"aq-spuiboulevard": 60, "footfall-voorstraat": 300, "aq-unlisted": 60}


PORT_OF = {"aq-spuiboulevard": "xe-0-0-1", "footfall-voorstraat": "xe-0-0-2"}


PORTS = {"xe-0-0-1": 10_000.0, "xe-0-0-2": 1_000.0}


SWITCH = "dmd-core-1"


@dataclass
class History:
    obs: dict[str, list[int]] = field(default_factory=dict)
    off: dict[str, list[int]] = field(default_factory=dict)
    msgs: list[tuple[int, int]] = field(default_factory=list)  # (time, bytes)
    samples: dict[str, list[tuple[int, int, int, bool]]] = field(default_factory=dict)
    rejected: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def make_history() -> History:
    rng = random.Random(2026)
    h = History()
    for device, interval in DEVICES.items():
        tags = {"partner": PARTNER_ID, "device": device}
        obs, off = [], []
        t = BASE + rng.randrange(interval) * S
        while t < END:
            if rng.random() < 0.01:
                t += rng.randrange(5, 60) * interval * S  # a silence
            if rng.random() < 0.01:
                off.append(t)
                h.lines += [
                    line("status", tags, {"online": 0}, t),
                    line("messages", {**tags, "type": "status"}, {"bytes": 7}, t),
                ]
                h.msgs.append((t, 7))
            else:
                obs.append(t)
                size = rng.randrange(40, 90)
                h.lines += [
                    line("telemetry", tags, {"v": rng.random()}, t),
                    line("messages", {**tags, "type": "telemetry"}, {"bytes": size}, t),
                ]
                h.msgs.append((t, size))
            t += (interval + rng.randrange(-3, 4)) * S
        h.obs[device], h.off[device] = obs, off
    for port, capacity in PORTS.items():
        tags = {"partner": PARTNER_ID, "switch": SWITCH, "port": port}
        rows, inb, outb = [], 2**64 - 10**10, 10**9
        t = BASE
        down_from = BASE + rng.randrange(20, 40) * 3600 * S
        while t < END:
            t += 60 * S + rng.randrange(-2, 3) * S
            if rng.random() < 0.003:
                t += 20 * 60 * S  # silent collector
            rate = rng.randrange(int(capacity * 1e6 * 0.6) // 8)
            inb = (inb + rate * 60) % 2**64
            outb += rate * 6
            if rng.random() < 0.002:
                inb = rng.randrange(10**6)  # reset
            glitch = rng.random() < 0.002
            up = not down_from <= t < down_from + 25 * 60 * S
            value = (inb + 10**15) % 2**64 if glitch else inb
            rows.append((t, value, outb, up))
            fields = {"in_octets": as_int64(value), "out_octets": as_int64(outb), "up": int(up)}
            h.lines.append(line("counters", tags, fields, t))
        h.samples[port] = rows
    for _ in range(25):
        t = BASE + rng.randrange(2 * 86_400) * S
        h.rejected.append(t)
        tags = {"partner": PARTNER_ID, "reason": "bad_shape"}
        dead: dict[str, str | int] = {"topic": "x", "excerpt": "{}", "detail": "d", "bytes": 2}
        h.lines.append(line("rejected", tags, dead, t))
    h.lines += [
        line("ingest_link", {"client": "i1"}, {"connected": 1}, BASE - 60 * S),
        line("ingest_link", {"client": "i1"}, {"connected": 0}, GAP[0]),
        line("ingest_link", {"client": "i1"}, {"connected": 1}, GAP[1]),
    ]
    rng.shuffle(h.lines)  # out of order, as a replay of several feeds would bring it
    return h
