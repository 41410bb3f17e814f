"""timeseries.markers: a batch's line protocol → what it touched, and back on the deriver's side."""

from __future__ import annotations

import re
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.messages import Counters, Status, Telemetry
from domain.timestamps import HOUR_NS
from ingest.points import counters_line, message_lines
from timeseries.markers import MAX_FIELD_BYTES, parse_events, touched_lines

FIELD = re.compile(rb'events="([^"]*)"')


def decoded(body: bytes) -> dict[tuple[str, str, str], tuple[list[int], list[int]]]:
    out: dict[tuple[str, str, str], tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for point in touched_lines(body, 1).split(b"\n"):
        match = FIELD.search(point)
        assert match, point
        assert len(match[1]) <= MAX_FIELD_BYTES
        for t in parse_events(match[1].decode()):
            up_times, down_times = out[(t.kind, t.partner, t.subject)]
            up_times += t.up_times
            down_times += t.down_times
    return dict(out)


def test_each_kind_of_point_lands_where_the_deriver_looks() -> None:
    body = b"\n".join(
        [
            b"telemetry,device=d1,partner=p1 t=1.0,h=2.0 100",
            b"messages,device=d1,partner=p1,type=telemetry bytes=10i 100",
            b"status,device=d1,partner=p1 online=0i 170",
            b"status,device=d2,partner=p1 online=1i 180",
            b"counters,partner=p1,port=xe-0,switch=sw in_octets=5i,out_octets=6i,up=1i 200",
            b"counters,port=xe-1,switch=sw in_octets=5i,out_octets=6i,up=0i 200",
            b'rejected,partner=p1,reason=bad_shape topic="a b",excerpt="{ }",detail="x",'
            b"bytes=3i 7200000000001",
            b"ingest_link,client=c connected=1i 5",
        ]
    )
    assert decoded(body) == {
        ("device", "p1", "d1"): ([100], [170]),
        ("device", "p1", "d2"): ([180], []),
        ("port", "p1", "sw/xe-0"): ([200], []),
        ("port", "", "sw/xe-1"): ([], [200]),
        ("rejected", "p1", ""): ([2 * HOUR_NS], []),
    }


def test_a_batch_that_touched_nothing_derived_has_no_marker() -> None:
    assert touched_lines(b"ingest_link,client=c connected=1i 5", 1) == b""


def test_long_batches_are_split_below_the_string_field_limit() -> None:
    body = b"\n".join(
        b"telemetry,device=d%d,partner=p t=1.0 %d" % (k % 7, 1_700_000_000_000_000_000 + k)
        for k in range(30_000)
    )
    points = touched_lines(body, 1).split(b"\n")
    assert len(points) > 1
    stamps = [int(p.rsplit(b" ", 1)[1]) for p in points]
    assert len(set(stamps)) == len(stamps), "points of one batch must not overwrite each other"
    got = decoded(body)
    assert sum(len(first) for first, _ in got.values()) == 30_000


ids = st.from_regex(r"[a-z0-9][a-z0-9-]{1,10}", fullmatch=True)
devices = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,12}", fullmatch=True)
times = st.integers(1_600_000_000_000_000_000, 1_900_000_000_000_000_000)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("telemetry"), ids, devices, times),
            st.tuples(st.just("online"), ids, devices, times),
            st.tuples(st.just("offline"), ids, devices, times),
            st.tuples(st.just("up"), ids, ids, times),
            st.tuples(st.just("down"), ids, ids, times),
        ),
        max_size=60,
    )
)
def test_every_event_the_ingest_writes_comes_back_from_the_markers(
    events: list[tuple[str, str, str, int]],
) -> None:
    lines: list[str] = []
    expected: dict[tuple[str, str, str], tuple[list[int], list[int]]] = defaultdict(
        lambda: ([], [])
    )
    for kind, a, b, t in events:
        if kind == "telemetry":
            msg = Telemetry(a, b, t, {"v": 1.0}, {}, ts_from_device=True)
            lines += message_lines(msg, "", b"{}", t, {})
            expected[("device", a, b)][0].append(t)
        elif kind in ("online", "offline"):
            status = Status(a, b, t, online=kind == "online", ts_from_device=True)
            lines += message_lines(status, "", b"online", t, {})
            expected[("device", a, b)][0 if kind == "online" else 1].append(t)
        else:
            counters = Counters(a, b, t, 2**64 - 1, 0, up=kind == "up", ts_from_device=True)
            lines.append(counters_line(counters, "p"))
            expected[("port", "p", f"{a}/{b}")][0 if kind == "up" else 1].append(t)
    if not lines:
        return
    got = decoded("\n".join(lines).encode())
    assert {k: (sorted(v[0]), sorted(v[1])) for k, v in got.items()} == {
        k: (sorted(v[0]), sorted(v[1])) for k, v in expected.items()
    }
