"""The export's parameters and query text: values only as bound parameters."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import pytest

from api.export import KINDS, ExportSlots, build_query, encode, export_request
from api.params import BadParameter
from api.routes.data import _released_when_gone


def test_defaults_to_every_kind_and_a_device_filter_to_per_device_kinds() -> None:
    assert export_request("p", 0, 1, "csv", None, None, None).kinds == tuple(KINDS)
    req = export_request("p", 0, 1, "csv", None, "d-1,d-2", None)
    assert req.kinds == ("telemetry", "status", "messages")
    assert req.devices == ("d-1", "d-2")


@pytest.mark.parametrize(
    ("kind", "device", "metric", "fmt", "param"),
    [
        (None, None, None, "xml", "format"),
        ("telemetry,bogus", None, None, "csv", "kind"),
        (None, "d' OR '1'='1", None, "csv", "device"),
        (None, None, "time", "csv", "metric"),
        ("status", None, "pm25", "csv", "metric"),
        (None, ",", None, "csv", "device"),
    ],
)
def test_bad_parameters_name_themselves(
    kind: str | None, device: str | None, metric: str | None, fmt: str, param: str
) -> None:
    with pytest.raises(BadParameter) as caught:
        export_request("p", 0, 1, fmt, kind, device, metric)
    assert caught.value.param == param


def test_values_are_bound_never_in_the_query_text() -> None:
    req = export_request("partner-x", 0, 1, "csv", None, "dev-a,dev-b", "pm2.5")
    query, params = build_query(req, KINDS["telemetry"])
    assert "partner-x" not in query and "dev-a" not in query
    assert params["partner"] == "partner-x" and {params["d0"], params["d1"]} == {"dev-a", "dev-b"}
    assert '"pm2.5"' in query and "$offset" in query and "$limit" in query


def test_csv_quotes_text_with_commas_quotes_and_newlines() -> None:
    rows = [
        {"time": "t", "kind": "rejected", "reason": "r", "field": "excerpt", "value": 'a,"b"\nc'}
    ]
    assert encode("csv", rows) == b't,rejected,,,,,r,excerpt,"a,""b""\nc"\n'


def test_export_slots_are_bounded_per_partner_and_given_back_once() -> None:
    slots = ExportSlots(2)
    first, second = slots.take("p"), slots.take("p")
    assert first is not None and second is not None
    assert slots.take("p") is None  # the third waits: 429
    assert slots.take("q") is not None  # another partner's are its own
    first()
    first()  # twice (the stream's end and its finalizer): one slot back, not two
    assert slots.running("p") == 1
    assert slots.take("p") is not None and slots.take("p") is None


def test_a_slot_comes_back_when_an_export_is_dropped_unstarted() -> None:
    slots = ExportSlots(1)
    release = slots.take("p")
    assert release is not None

    async def body() -> AsyncIterator[bytes]:
        yield b""

    stream = _released_when_gone(body(), release)
    assert slots.running("p") == 1
    del stream  # never iterated: no `finally` runs, the finalizer does
    gc.collect()
    assert slots.running("p") == 0
