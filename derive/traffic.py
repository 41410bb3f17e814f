"""A port's 5-minute traffic buckets, recomputed exactly for the buckets a stretch touched."""

from __future__ import annotations

from collections import defaultdict

from derive.reads import Ranges, times_of
from domain.usage import BUCKET_NS, bucket_octets, port_deltas
from timeseries import derived
from timeseries.client import Series
from timeseries.derived import SubjectKey

CounterRow = tuple[int, int, int, int]
"""(time, in_octets, out_octets, up) of one counters sample, octets as uint64."""


def traffic_points(
    key: SubjectKey,
    ranges: Ranges,
    rows: list[CounterRow],
    old: list[Series],
    capacity_mbps: float,
) -> tuple[list[str], tuple[int, int] | None]:
    """Exact 5-minute sums of the valid deltas whose t2 falls in the touched buckets, the
    stored buckets that no longer hold a delta emptied; and the `[lo, hi)` of the buckets that
    changed (None: none did), for the partner's own sums (derived.add_partner_traffic)."""
    partner, subject = key[1], key[2]
    samples = [row for row in rows if row[0] < ranges.buckets_hi]
    deltas = port_deltas(
        [row[0] for row in samples],
        [row[1] for row in samples],
        [row[2] for row in samples],
        capacity_mbps,
    )
    lo, hi = ranges.buckets_lo, ranges.buckets_hi
    inbound = bucket_octets([deltas.inbound], lo, hi)
    outbound = bucket_octets([deltas.outbound], lo, hi)
    # A glitch drops one direction's delta only (SPEC), so a bucket may hold valid deltas of
    # one direction and none of the other: that one is written as 0 there. `deltas` counts the
    # sample pairs with at least one valid direction.
    counts: dict[int, int] = defaultdict(int)
    for t2 in set(deltas.inbound.t2_ns.tolist()) | set(deltas.outbound.t2_ns.tolist()):
        if lo <= t2 < hi:
            counts[t2 // BUCKET_NS * BUCKET_NS] += 1
    sums: dict[int, list[int]] = {bucket: [0, 0] for bucket in counts}
    for direction, buckets in enumerate((inbound, outbound)):
        for bucket, octets in zip(buckets.start_ns.tolist(), buckets.octets.tolist(), strict=True):
            sums[int(bucket)][direction] = int(octets)
    points = [
        derived.traffic_line(partner, subject, bucket, octets_in, octets_out, counts[bucket])
        for bucket, (octets_in, octets_out) in sorted(sums.items())
    ]
    emptied = {t for series in old for t in times_of(series)} - set(counts)
    for bucket in emptied:
        points.append(derived.emptied_traffic_line(partner, subject, bucket))
    changed = [*counts, *emptied]
    return points, (min(changed), max(changed) + BUCKET_NS) if changed else None
