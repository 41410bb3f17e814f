"""The export's parameters and query text: values only as bound parameters."""

from __future__ import annotations

import pytest

from api.export import KINDS, build_query, encode, export_request
from api.params import BadParameter


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
